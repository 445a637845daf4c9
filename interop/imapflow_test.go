package interop

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestImapflow runs imapflow/flow.mjs with Node: imapflow logs in (ID,
// AUTHENTICATE PLAIN or LOGIN, and whatever else Dormouse advertises),
// lists, opens INBOX, fetches a message, and goes into IDLE; this test
// then delivers a message into the Maildir, outside IMAP, and the script
// must see imapflow's 'exists' event and fetch the new message.
// imapflow turns on COMPRESS=DEFLATE when offered (RFC 4978), so all of
// this runs compressed, and the hibernated IDLE sleeps compressed.
func TestImapflow(t *testing.T) {
	t.Run("active", func(t *testing.T) { testImapflow(t, false, 0) })
	// The same with imapflow's IDLE hibernated before the delivery.
	t.Run("hibernated", func(t *testing.T) { testImapflow(t, true, 0) })
	// 100 more hibernations, each woken by a delivery the client fetches
	// and checks, all over COMPRESS=DEFLATE.
	t.Run("hibernated 100 cycles", func(t *testing.T) { testImapflow(t, true, 100) })
	// The same over implicit TLS 1.3 and COMPRESS: each sleeper keeps
	// its record state and inflate window alone.
	t.Run("hibernated 100 cycles over TLS", func(t *testing.T) { testImapflowOver(t, true, 100, true) })
}

func testImapflow(t *testing.T, hibernate bool, cycles int) {
	testImapflowOver(t, hibernate, cycles, false)
}

func testImapflowOver(t *testing.T, hibernate bool, cycles int, overTLS bool) {
	node := requireTool(t, "node")
	requireFile(t, filepath.Join("imapflow", "node_modules", "imapflow", "package.json"), "run `npm ci` in interop/imapflow")
	var opts []testserver.Option
	if hibernate {
		opts = append(opts, hibernating)
	}
	transport, label := "plain", "compressed"
	if overTLS {
		opts = append(opts, testserver.WithTLS(true))
		transport, label = "tls", "tls13+compressed"
	}
	srv := startServer(t, opts...)
	srv.deliver(t, simpleMessage("flow-1", "imapflow one", "first body"))

	cmd := exec.Command(node, "flow.mjs", srv.host, srv.port, srv.user, srv.pass, strconv.Itoa(cycles), transport)
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
	timer := time.AfterFunc(60*time.Second+time.Duration(cycles)*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()

	var out []string
	delivered := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		out = append(out, line)
		if line == "IDLING" && !delivered {
			delivered = true
			if hibernate {
				srv.waitHibernated(t, 1)
			}
			srv.deliver(t, simpleMessage("flow-2", "imapflow two", "second body"))
		}
		if n, ok := strings.CutPrefix(line, "READY "); ok {
			srv.waitHibernated(t, 1)
			srv.deliver(t, simpleMessage("flow-"+n, "imapflow "+n, "body "+n))
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
	if n := srv.metric(t, "dormouse_imap_hibernated_served_total,kind=update"); hibernate && n < 1 {
		t.Errorf("the delivery was not told by a sleeper (updates sent asleep = %v)", n)
	}
	if n := srv.metric(t, "dormouse_imap_commands_total,command=COMPRESS,result=ok"); n != 1 {
		t.Errorf("COMPRESS DEFLATE ok = %v, want 1: imapflow did not compress", n)
	}
	if n := srv.metric(t, "dormouse_imap_hibernations_by_transport_total,transport="+label); hibernate && n < float64(1+cycles) {
		t.Errorf("%s hibernations = %v, want ≥ %d", label, n, 1+cycles)
	}
	if k := keptTLSConn(t, srv); len(k) > 0 {
		t.Errorf("TLS sleepers kept their tls.Conn: %v", k)
	}
}
