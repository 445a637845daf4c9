package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestActiveWorkload runs the mix against a real server on 127.0.0.1 and
// checks that every kind of command ran without error and that the
// mailbox kept its size (APPEND and EXPUNGE balance on average).
func TestActiveWorkload(t *testing.T) {
	srv := testserver.Start(t)
	const msgs = 40
	for i := range msgs {
		srv.Deliver(t, srv.Alice.Name, fmt.Sprintf("From: a@example.org\r\nSubject: report %d\r\n\r\nbody %d\r\n", i, i))
	}
	res, err := runActive(context.Background(), activeConfig{
		Addr: srv.Addr, Users: []string{srv.Alice.Name}, Password: srv.Alice.Password,
		Duration: time.Minute, MaxOps: 300, Timeout: 30 * time.Second, PID: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("%d errors, first: %s", res.Errors, res.FirstError)
	}
	for _, name := range []string{"SELECT", "FETCH", "SEARCH", "STORE", "APPEND", "EXPUNGE"} {
		if res.ByCommand[name].N == 0 {
			t.Errorf("no %s ran; by command: %v", name, res.ByCommand)
		}
	}
	// 300 steps, EXPUNGE adds a STORE: more commands than steps.
	if res.Commands < 300 || res.Latency.N != res.Commands || len(res.SamplesMs) != res.Commands {
		t.Errorf("commands %d, latency samples %d / %d", res.Commands, res.Latency.N, len(res.SamplesMs))
	}
	if res.ReplyBytes < 1000 {
		t.Errorf("reply bytes %d: bodies were not read", res.ReplyBytes)
	}
}

// TestActiveLoginFails reports a bad password as an error, not a result.
func TestActiveLoginFails(t *testing.T) {
	srv := testserver.Start(t)
	_, err := runActive(context.Background(), activeConfig{
		Addr: srv.Addr, Users: []string{srv.Alice.Name}, Password: "wrong",
		Duration: time.Second, MaxOps: 10, Timeout: 30 * time.Second, PID: os.Getpid(),
	})
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
}

func TestPickFollowsWeights(t *testing.T) {
	total := 0
	for _, o := range mix {
		total += o.weight
	}
	if total != 100 {
		t.Fatalf("weights add up to %d, want 100", total)
	}
}
