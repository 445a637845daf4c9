//go:build unix

package hibernate_test

import (
	"bufio"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/dormouse/dormouse/hibernate"
)

// Example shows one hibernate-and-wake cycle as the server will run it:
// export the session, detach the socket, register it, and on the wake
// take it back and restore the session.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		log.Fatal(err)
	}

	table := hibernate.NewTable(hibernate.TableConfig{Keepalive: 2 * time.Minute})
	woke := make(chan hibernate.Token, 1)
	poller, err := hibernate.NewPoller(func(tok uint64) { woke <- hibernate.Token(tok) })
	if err != nil {
		log.Fatal(err)
	}
	defer poller.Close()

	// Hibernate: the session, idling on INBOX, becomes a blob; the
	// goroutine, buffers and net.Conn go away.
	st := hibernate.State{
		User: "alice@example.org", Mailbox: "INBOX", UIDValidity: 1764300000,
		UIDs: []hibernate.UIDRange{{First: 1, Last: 4711}}, Messages: 4711,
		HighestModSeq: 91234, UIDNext: 4712, Enabled: hibernate.ExtCondStore, IdleTag: "A0042",
	}
	blob, err := st.MarshalBinary()
	if err != nil {
		log.Fatal(err)
	}
	fd, err := hibernate.Detach(conn)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := table.Insert(fd, st.User, st.Mailbox, blob, time.Now())
	if err != nil {
		log.Fatal(err)
	}
	if err := poller.Add(fd, uint64(tok)); err != nil {
		log.Fatal(err)
	}

	// The client ends IDLE.
	client.Write([]byte("DONE\r\n"))

	// Wake: the poller names the token; the table gives the blob back.
	tok = <-woke
	blob, err = table.AppendBlob(nil, tok)
	if err != nil {
		log.Fatal(err)
	}
	info, _ := table.Lookup(tok)
	table.Remove(tok)
	var back hibernate.State
	if err := back.UnmarshalBinary(blob); err != nil {
		log.Fatal(err)
	}
	conn, err = hibernate.Attach(info.FD)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	line, _ := bufio.NewReader(conn).ReadString('\n')
	fmt.Printf("%s %s %q\n", back.User, back.IdleTag, line)
	fmt.Fprintf(conn, "%s OK IDLE terminated\r\n", back.IdleTag)
	reply, _ := bufio.NewReader(client).ReadString('\n')
	fmt.Printf("%q\n", reply)
	// Output:
	// alice@example.org A0042 "DONE\r\n"
	// "A0042 OK IDLE terminated\r\n"
}
