// Package proxy is `dormouse proxy`: an IMAP front that ends TLS and
// COMPRESS, authenticates clients against the passwd-file, routes each
// user to a backend `dormouse serve` (rendezvous hashing, or a map the
// caller looks up) and relays the session over a plain hop opened with
// XPROXY. When the backend hands a quiet session over (`* XSLEEP`), the
// client sleeps here: its socket is detached and watched by the shared
// hibernate.Poller, its state blob (with the proxy's TLS 1.3 record state
// or COMPRESS inflater state beside it) sits in a hibernate.Table, and
// the backend holds nothing for it. DONE, a new IDLE and keepalives are
// answered asleep; anything else, or a change notice that concerns it,
// wakes it on a backend with XRESUME (docs/cluster.md,
// /work/notes/cluster-spec.md's contract).
package proxy
