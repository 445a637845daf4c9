package imapserver_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// failingListener returns errs from Accept, one per call, then accepts
// from the real listener.
type failingListener struct {
	net.Listener
	errs []error
}

func (l *failingListener) Accept() (net.Conn, error) {
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		return nil, err
	}
	return l.Listener.Accept()
}

// TestAcceptErrors: running out of descriptors (or a connection aborted
// before accept) must not stop the listener; another error does.
func TestAcceptErrors(t *testing.T) {
	tests := []struct {
		name  string
		errs  []error
		keeps bool
	}{
		{"EMFILE", []error{&net.OpError{Op: "accept", Net: "tcp", Err: fmt.Errorf("accept4: %w", syscall.EMFILE)}}, true},
		{"ENFILE then ECONNABORTED", []error{syscall.ENFILE, syscall.ECONNABORTED}, true},
		{"other", []error{errors.New("listener broken")}, false},
	}
	srv := testserver.Start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.IMAP.Serve(&failingListener{Listener: ln, errs: tt.errs}) }()
			// The subtest owns ln: it closes it and waits for Serve to
			// return, so that Serve has let go of it before the server's
			// Shutdown closes the listeners it still holds.
			defer func() {
				ln.Close()
				select {
				case <-served:
				case <-time.After(time.Minute):
					t.Error("Serve did not return after its listener was closed")
				}
			}()
			if !tt.keeps {
				select {
				case err := <-served:
					served <- err // for the deferred wait
					if err == nil || !strings.Contains(err.Error(), "listener broken") {
						t.Fatalf("Serve = %v, want the listener's error", err)
					}
				case <-time.After(time.Minute):
					t.Fatal("Serve went on after an error it cannot pass")
				}
				return
			}
			nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			greeting, err := bufio.NewReader(nc).ReadString('\n')
			if err != nil || !strings.HasPrefix(greeting, "* OK") {
				t.Fatalf("greeting %q, %v: the listener stopped after %v", greeting, err, tt.errs)
			}
		})
	}
}
