// Package hibernate holds the building blocks that let an idling IMAP
// connection cost a few hundred bytes and no goroutine (docs/design.md, "The
// life of a connection"):
//
//   - State: the versioned binary state blob a selected, idling session
//     is exported to (state.go);
//   - Poller: one shared epoll (a goroutine per connection where epoll is
//     absent) that watches the raw descriptors of sleeping connections and
//     reports each one once when it becomes readable (poller_*.go), with
//     DetachTCP and Attach to move a socket out of and back into the Go
//     runtime (detach.go);
//   - Table: the hibernated connections themselves, in a flat slice of
//     pointer-free entries the garbage collector never scans (table.go),
//     with the shared mailbox subscriptions (subscriptions.go) and the
//     shared keepalive timer (keepalive.go).
//
// None of these types knows IMAP sessions or the mail store; the server
// wires them together.
package hibernate
