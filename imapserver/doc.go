// Package imapserver serves IMAP connections: the session state machine and
// the command handlers, over a mailstore.Store.
//
// # Connections
//
// Each connection runs on one goroutine that reads a command (through
// imapwire.Decoder), runs it, writes its responses and flushes when no
// pipelined command is waiting. Commands therefore run one at a time, in
// order, as RFC 9051 5.5 allows; the kernel's socket buffer and the bufio
// reader are the only read-ahead. A command that has started always runs
// to its end: Shutdown interrupts only connections waiting for the first
// byte of a command (and IDLE), then says "* BYE".
//
// # Sessions and updates
//
// A selected mailbox is a small struct (selected): the mailbox handle,
// its watch, and the client's view of it (imapview.View: sequence
// numbers, the flags and MODSEQs it has been told, \Recent, the SEARCHRES
// result). The store's change events only set a token; the session
// applies them (imapview.Refresh: ChangesSince, then View.Apply) when
// RFC 9051 7 and 7.5.1 allow, after a command and at once during IDLE,
// and encoder (encode.go) writes what Apply reports. Apply takes
// expunges and flag changes together, so after FETCH, STORE and SEARCH
// by sequence number nothing is applied and the change waits for the
// next command that may carry EXPUNGE.
//
// # Hibernation
//
// With Config.HibernateAfter > 0, a logged-in session (plain TCP,
// implicit TLS or after STARTTLS) that has waited that long in IDLE, or
// quiet for its next command (conn.waitForCommand), with no output
// pending and no input buffered is exported to a hibernate.State (its view, serialised by
// imapview.View.Export, the enabled extensions and the IDLE tag),
// its socket detached to a bare descriptor (TLS: see below), and its
// goroutine, buffers,
// mailbox and user handles released. Client bytes or a change to the
// mailbox wake it: a new session restores the view as it was at export
// and the first refresh replays exactly what changed since. Two answers
// need no wake (hibernate_serve.go): DONE gets the tagged OK and a new
// IDLE "+ idling", in one packet or apart (between them the sleeper is
// between commands: it holds changes back until the IDLE, as an active
// session does, and the idle timeout applies), and a mailbox change is
// sent as the untagged updates an active IDLE sends: the view of the
// state, without records, goes through the same View.Apply and encoder
// (hibernate_update.go). A quiet session sleeps between commands from
// the start; NOOP and CHECK are answered asleep, with what changed since
// the blob before the tagged OK (hibernate_reidle.go). A session with no
// mailbox selected exports a State without one and watches nothing. Any
// other command wakes the session fully, and the restored session runs
// it. A session that cannot be exported stays active; the reason is
// counted (dormouse_imap_hibernation_refused_total).
//
// A TLS 1.3 session sleeps on its record state alone: a bare descriptor
// like a plain one, and the suite, traffic secrets and sequence numbers
// in its blob (sleeper_tls13.go, internal/tls13rec; docs/design.md "TLS
// 1.3 sleepers"); it seals what it says and opens what it reads asleep,
// and wakes onto a tls13rec.Conn. A TLS 1.2 session, or a TLS 1.3 one
// whose record count cannot be proven, sleeps with its *tls.Conn
// (counted by reason, dormouse_imap_hibernation_tls_kept_conn_total):
// the sleeper keeps its *tls.Conn (in a map by token) and the descriptor under it, taken without dup, is
// watched by the same epoll beside the runtime's netpoller (both may
// register one socket; TestPollerSharesRuntimeSocket). Everything a TLS
// sleeper is sent (keepalives, updates, re-IDLE answers, BYE) goes
// through tls.Conn.Write with a 20 ms deadline, never to the raw socket; a
// write that times out breaks the record state, so that connection is
// dropped, as an active IDLE is after a failed write. Client bytes are
// read through tls.Conn with a 20 ms deadline (a timeout is temporary in
// crypto/tls: a partial record stays buffered and its rest fires the
// poller again); DONE and a new IDLE are answered asleep as for plain TCP,
// anything else wakes the session fully with the same tls.Conn. Input
// buffered inside the tls.Conn is invisible to the poller: a session with
// any does not hibernate (reason "tls_pending", tlsPending) and a sleeper
// with any after a read wakes fully. What a TLS sleeper still costs, and
// why (the tls.Conn's read buffer, golang/go#43563): docs/benchmarks.md,
// "TLS".
//
// Compressed sessions (COMPRESS=DEFLATE, compress.go) hibernate where
// their inflater (internal/inflate) is quiet: the compressor is dropped,
// the inflater's window and pending bits go into the state blob, a
// sleeper compresses what it says on its own and inflates a DONE or IDLE
// from the kept state, and a full wake resumes an inflater from it
// (docs/design.md, "Compressed connections").
//
// # Files
//
// server.go (Server, Serve, Shutdown), conn.go (the read loop, responses,
// errors), session.go (states, the command table), capability.go
// (CAPABILITY, NOOP, LOGOUT, ID, ENABLE), auth.go (STARTTLS, LOGIN,
// AUTHENTICATE), compress.go (COMPRESS=DEFLATE), select.go, mailboxes.go (CREATE, DELETE, RENAME,
// SUBSCRIBE, LIST, LSUB, NAMESPACE, STATUS), append.go, catenate.go
// (CATENATE), imapurl.go (following IMAP URLs: which name this server,
// what they open), urlauth.go (GENURLAUTH, RESETKEY, URLFETCH), fetch.go,
// search.go, context.go (CONTEXT=SEARCH/SORT: UPDATE, CANCELUPDATE,
// ADDTO/REMOVEFROM), store.go, copymove.go, expunge.go, idle.go, updates.go,
// encode.go (untagged updates and the replies of IDLE),
// qresync.go, seqset.go; hibernation: hibernate.go (the table, poller,
// watches and keepalives), sleeper.go (plain and TLS transports),
// tls_pending.go, sleep.go, export.go (State out and back), wake.go,
// hibernate_serve.go, hibernate_update.go, hibernate_reidle.go; NOTIFY
// (RFC 5465): notify.go (groups, which group decides, what is written),
// notify_queue.go (the user-wide event queue, pushes between commands),
// notify_sleep.go (NOTIFY sleepers), notify_fetch.go (MessageNew's fetch
// attributes asleep);
// handover.go (an upgrade: Handover passes the connections to a new
// process, Adopt and CatchUp take them there).
package imapserver
