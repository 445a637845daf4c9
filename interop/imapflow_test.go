package interop

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestImapflow runs imapflow/flow.mjs with Node: imapflow logs in (ID,
// AUTHENTICATE PLAIN or LOGIN, and whatever else Dormouse advertises),
// lists, opens INBOX, fetches a message, and goes into IDLE; this test
// then delivers a message into the Maildir, outside IMAP, and the script
// must see imapflow's 'exists' event and fetch the new message.
func TestImapflow(t *testing.T) {
	node := requireTool(t, "node")
	requireFile(t, filepath.Join("imapflow", "node_modules", "imapflow", "package.json"), "run `npm ci` in interop/imapflow")
	srv := startServer(t)
	srv.deliver(t, simpleMessage("flow-1", "imapflow one", "first body"))

	cmd := exec.Command(node, "flow.mjs", srv.host, srv.port, srv.user, srv.pass)
	cmd.Dir = "imapflow" // imapflow is resolved from the script's folder
	stderr := newTranscript(t, "imapflow log")
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	// A hung script must not hang the test binary.
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var out []string
	delivered := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out = append(out, line)
		if line == "IDLING" && !delivered {
			delivered = true
			srv.deliver(t, simpleMessage("flow-2", "imapflow two", "second body"))
		}
	}
	err = cmd.Wait()
	output := strings.Join(out, "\n")
	if err != nil {
		t.Fatalf("flow.mjs: %v\n%s", err, output)
	}
	if !delivered {
		t.Errorf("flow.mjs never reported IDLING (IDLE not acknowledged?)\n%s", output)
	}
	if !strings.Contains(output, "imapflow flow: ok") {
		t.Fatalf("flow.mjs did not report success:\n%s", output)
	}
}
