package interop

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestPythonImaplib runs python/imaplib_flow.py, which drives the server
// with Python's standard imaplib through login, list, select, append,
// fetch (ENVELOPE, BODYSTRUCTURE, sections), search, store, copy, move,
// expunge and a hand-made IDLE that must hear another connection's APPEND.
// The script asserts the values itself and exits non-zero on a mismatch.
func TestPythonImaplib(t *testing.T) {
	python := requireTool(t, "python3")
	srv := startServer(t)

	cmd := exec.Command(python, "python/imaplib_flow.py", srv.host, srv.port, srv.user, srv.pass)
	// imaplib's protocol log, so that a failure shows the server's bytes.
	cmd.Env = append(os.Environ(), "IMAPLIB_DEBUG=1")
	out := runScript(t, 60*time.Second, cmd)
	if !strings.Contains(out, "imaplib flow: ok") {
		t.Fatalf("imaplib_flow.py did not report success:\n%s", out)
	}
}

// TestPythonImaplibCatenate runs python/imaplib_catenate.py: imaplib sends
// APPEND CATENATE (RFC 4469) with a relative URL and an absolute one that
// names the server by the host it connected to and no port, in a
// MULTIAPPEND with a plain literal, and a URL to a missing mailbox that
// must get NO [BADURL]; the script checks the assembled messages. Then
// GENURLAUTH signs a URL, URLFETCH returns its content, and after
// RESETKEY the same URL fetches NIL (RFC 4467).
func TestPythonImaplibCatenate(t *testing.T) {
	python := requireTool(t, "python3")
	srv := startServer(t)
	cmd := exec.Command(python, "python/imaplib_catenate.py", srv.host, srv.port, srv.user, srv.pass)
	cmd.Env = append(os.Environ(), "IMAPLIB_DEBUG=1")
	out := runScript(t, 60*time.Second, cmd)
	if !strings.Contains(out, "imaplib catenate and urlauth: ok") {
		t.Fatalf("imaplib_catenate.py did not report success:\n%s", out)
	}
}

// TestPythonTLSCycles runs python/imaplib_tls_cycles.py: Python's ssl
// (OpenSSL) over implicit TLS 1.3, 100 hibernate/wake cycles: the IDLE
// sleeps on its record state alone, is told of a delivery asleep (sealed
// by the sleeper), answers DONE asleep and wakes for a FETCH whose body
// the script checks.
func TestPythonTLSCycles(t *testing.T) {
	python := requireTool(t, "python3")
	srv := startServer(t, hibernating, testserver.WithTLS(true))
	const cycles = 100
	cmd := exec.Command(python, "python/imaplib_tls_cycles.py", srv.host, srv.port, srv.user, srv.pass, strconv.Itoa(cycles))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = newTranscript(t, "python")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var out []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out = append(out, line)
		if n, ok := strings.CutPrefix(line, "READY "); ok {
			srv.waitHibernated(t, 1)
			srv.deliver(t, simpleMessage("cycle-"+n, "cycle "+n, "cycle "+n))
		}
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(strings.Join(out, "\n"), "imaplib tls cycles: ok") {
		t.Fatalf("imaplib_tls_cycles.py: %v\n%s", err, strings.Join(out, "\n"))
	}
	if n := srv.metric(t, "dormouse_imap_hibernations_by_transport_total,transport=tls13"); n < cycles {
		t.Errorf("tls13 hibernations = %v, want ≥ %d", n, cycles)
	}
	if n := srv.metric(t, "dormouse_imap_hibernated_served_total,kind=update"); n < cycles {
		t.Errorf("updates told asleep = %v, want ≥ %d", n, cycles)
	}
	if k := keptTLSConn(t, srv); len(k) > 0 {
		t.Errorf("TLS sleepers kept their tls.Conn: %v", k)
	}
}

// TestPythonImaplibContext runs python/imaplib_context.py: imaplib (which
// knows nothing of RFC 5267; the script sends the return options as raw
// arguments) keeps a UID SEARCH and a UID SORT with RETURN (UPDATE), and
// hears ADDTO and REMOVEFROM at its NOOPs for another connection's APPEND
// and STORE, while the server hibernates it between commands; then
// CANCELUPDATE. No client library nobody here wrote supports CONTEXT=SEARCH
// (go-imap v2 beta.8 and imapflow have no UPDATE), so imaplib it is.
func TestPythonImaplibContext(t *testing.T) {
	python := requireTool(t, "python3")
	srv := startServer(t, hibernating)
	cmd := exec.Command(python, "python/imaplib_context.py", srv.host, srv.port, srv.user, srv.pass)
	cmd.Env = append(os.Environ(), "IMAPLIB_DEBUG=1")
	out := runScript(t, 60*time.Second, cmd)
	if !strings.Contains(out, "imaplib context: ok") {
		t.Fatalf("imaplib_context.py did not report success:\n%s", out)
	}
	if n := srv.metric(t, "dormouse_imap_hibernations_total"); n == 0 {
		t.Errorf("hibernations_total = %v: the context session never slept", n)
	}
}
