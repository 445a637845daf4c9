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
// A selected mailbox is a small struct (selected): the mailbox handle, the
// client's mailstore.View (sequence numbers, flags and MODSEQs it has been
// told), read-only or not, and the SEARCHRES result. The store's change
// events only set a token; the session applies them with Mailbox.Refresh
// when RFC 9051 7 and 7.5.1 allow, after a command and at once during
// IDLE. Refresh applies expunges and flag changes together, so after FETCH,
// STORE and SEARCH by sequence number nothing is applied and the change
// waits for the next command that may carry EXPUNGE.
//
// That struct, the enabled extensions and the IDLE tag are all a
// hibernated session will need to export (Config.HibernateAfter; not
// implemented yet).
//
// # Files
//
// server.go (Server, Serve, Shutdown), conn.go (the read loop, responses,
// errors), session.go (states, the command table), capability.go
// (CAPABILITY, NOOP, LOGOUT, ID, ENABLE), auth.go (STARTTLS, LOGIN,
// AUTHENTICATE), select.go, mailboxes.go (CREATE, DELETE, RENAME,
// SUBSCRIBE, LIST, LSUB, NAMESPACE, STATUS), append.go, fetch.go,
// search.go, store.go, copymove.go, expunge.go, idle.go, updates.go,
// qresync.go, seqset.go.
package imapserver
