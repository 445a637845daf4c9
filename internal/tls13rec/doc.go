// Package tls13rec is a TLS 1.3 record layer (RFC 8446 section 5, the
// key schedule's traffic-key part of 7.1-7.3 and KeyUpdate, 4.6.3) for
// connections whose handshake crypto/tls ran: a hibernated TLS 1.3
// connection keeps only its record state (State: the cipher suite, the
// two current traffic secrets and the two sequence numbers) and continues
// on a Conn after its wake, without its tls.Conn.
//
// Recorder, placed between the TCP socket and a tls.Conn, is how the
// state is taken out of crypto/tls: it hears the traffic secrets through
// tls.Config.KeyLogWriter, counts the records under them in both
// directions, and proves its count before the tls.Conn is dropped by
// opening the last record of each direction with the candidate key and
// sequence number (Recorder.Detach; docs/design.md, "TLS 1.3 sleepers").
package tls13rec
