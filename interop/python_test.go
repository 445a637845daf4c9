package interop

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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
