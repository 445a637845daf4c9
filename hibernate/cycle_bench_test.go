//go:build unix

package hibernate

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkHibernateWakeCycle measures one full cycle on a loopback
// connection: export the state, Detach, Table.Insert, Poller.Add; the
// client sends a byte; the wake, Table.Remove, Attach, decode, and the
// byte read back through the restored net.Conn. Both ends run in this
// process, so the figure includes the client's write.
//
//	go test -run '^$' -bench HibernateWakeCycle ./hibernate/
func BenchmarkHibernateWakeCycle(b *testing.B) {
	ln := listen(b)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	woke := make(chan uint64, 1)
	p, err := NewPoller(func(tok uint64) { woke <- tok })
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	tb := NewTable(TableConfig{})
	st := typicalState()
	blob := make([]byte, 0, 128)
	one := []byte{'x'}
	buf := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		blob, err = st.AppendBinary(blob[:0])
		if err != nil {
			b.Fatal(err)
		}
		fd, err := Detach(conn)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := tb.Insert(fd, st.User, st.Mailbox, blob, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Add(fd, uint64(tok)); err != nil {
			b.Fatal(err)
		}
		client.Write(one)
		tok = Token(<-woke)
		blob, err = tb.AppendBlob(blob[:0], tok)
		if err != nil {
			b.Fatal(err)
		}
		if err := tb.Remove(tok); err != nil {
			b.Fatal(err)
		}
		if err := st.UnmarshalBinary(blob); err != nil {
			b.Fatal(err)
		}
		if conn, err = Attach(fd); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close()
}
