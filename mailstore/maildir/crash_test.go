package maildir

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashEnv tells the test binary to run as the crash test's child.
const crashEnv = "DORMOUSE_CRASH_CHILD_ROOT"

// crashDelayEnv gives the child's Options.FlagSyncDelay.
const crashDelayEnv = "DORMOUSE_CRASH_CHILD_FLAG_SYNC_DELAY"

// TestCrashChild is the child of TestCrashAppend: it prints "ready
// <UIDVALIDITY>", appends forever and prints "<uid> <message-id>" after
// each acknowledged append. It does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	root := os.Getenv(crashEnv)
	if root == "" {
		t.Skip("only runs as the child of TestCrashAppend")
	}
	delay, err := time.ParseDuration(os.Getenv(crashDelayEnv))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	s, err := Open(root, Options{FlagSyncDelay: delay})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	u, err := s.User(ctx, "crash")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	m, err := u.Mailbox(ctx, "INBOX")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("ready", m.UIDValidity())
	for i := 0; ; i++ {
		id := fmt.Sprintf("<%d.%d@crash>", os.Getpid(), i)
		uid, err := m.Append(ctx, strings.NewReader("Message-ID: "+id+"\r\n\r\nx\r\n"), nil, time.Time{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		// One write per line: what the parent reads was acknowledged.
		os.Stdout.WriteString(strconv.FormatUint(uint64(uid), 10) + " " + id + "\n")
	}
}

// TestCrashAppend kills an appending child with SIGKILL at random moments,
// at least 200 times, then checks that every acknowledged message is there
// under its UID and that no UID was acknowledged twice; under both flag
// sync settings (delayed: the UIDs commit without fdatasync, and a
// process that dies loses none of them, nor the UIDVALIDITY).
func TestCrashAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{{"always", 0}, {"delayed", time.Hour}} {
		t.Run(c.name, func(t *testing.T) { crashAppend(t, c.delay) })
	}
}

// crashAppend is TestCrashAppend with the children's FlagSyncDelay.
func crashAppend(t *testing.T, delay time.Duration) {
	root := t.TempDir()
	uidValidity := ""
	acked := map[uint32]string{}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	deadline := time.Now().Add(45 * time.Second)
	kills := 0
	for kills < 200 || len(acked) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d kills before the time limit", kills)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+root, crashDelayEnv+"="+delay.String())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill at a random moment after the child is ready, so kills hit
		// every step of an append.
		l, ok := <-lines
		v, ready := strings.CutPrefix(l, "ready ")
		if !ok || !ready {
			cmd.Wait()
			t.Fatalf("child did not start: %q", l)
		}
		if uidValidity == "" {
			uidValidity = v
		} else if v != uidValidity {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("UIDVALIDITY %s after a kill, was %s: the index was rebuilt", v, uidValidity)
		}
		time.Sleep(time.Duration(rng.Intn(25000)) * time.Microsecond)
		cmd.Process.Kill() // SIGKILL
		kills++
		for l := range lines {
			f := strings.Fields(l)
			if len(f) != 2 {
				t.Fatalf("child said %q", l)
			}
			uid, _ := strconv.ParseUint(f[0], 10, 32)
			if prev, dup := acked[uint32(uid)]; dup {
				t.Fatalf("UID %d acknowledged twice: %s and %s", uid, prev, f[1])
			}
			acked[uint32(uid)] = f[1]
		}
		cmd.Wait()
	}
	t.Logf("%d kills, %d acknowledged appends", kills, len(acked))

	s, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := testUser(t, s, "crash")
	m := testMailbox(t, u, "INBOX")
	v, err := m.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	present := map[uint32]bool{}
	for _, msg := range v.Messages.Messages() {
		if present[msg.UID] {
			t.Fatalf("UID %d twice in the view", msg.UID)
		}
		present[msg.UID] = true
	}
	for uid, id := range acked {
		if !present[uid] {
			t.Fatalf("acknowledged UID %d (%s) lost", uid, id)
		}
		if got := readAll(t, m, uid); !strings.Contains(got, id) {
			t.Fatalf("UID %d holds %q, want %s", uid, got, id)
		}
	}
	if fmt.Sprint(m.UIDValidity()) != uidValidity {
		t.Fatalf("UIDVALIDITY %d, was %s", m.UIDValidity(), uidValidity)
	}
	if v.UIDValidity != m.UIDValidity() || v.Messages.Len() < len(acked) {
		t.Fatalf("view has %d messages, %d acknowledged", v.Messages.Len(), len(acked))
	}
}
