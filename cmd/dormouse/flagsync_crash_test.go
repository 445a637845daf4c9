package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/internal/imaptest"
)

// stormValue is the n-th flag set a STORE of the storm gives a message:
// system flags and a keyword, so that both the file names and the index
// alone (keywords) are checked.
func stormValue(n int) []string {
	f := []string{"k" + strconv.Itoa(n%5)}
	if n&1 != 0 {
		f = append(f, `\Seen`)
	}
	if n&2 != 0 {
		f = append(f, `\Flagged`)
	}
	if n&4 != 0 {
		f = append(f, `\Answered`)
	}
	slices.Sort(f)
	return f
}

// stormState is what the storm's clients were told about each message:
// the flags of its last acknowledged STORE and, for a STORE sent but not
// answered when the server died, the flags it asked for.
type stormState struct {
	mu      sync.Mutex
	acked   map[uint32][]string
	pending map[uint32][]string
}

// TestCrashStoreStorm kills `dormouse serve` (SIGKILL) during a storm of
// STOREs from several connections of one user, several times, under each
// flag_sync setting. After each kill the index passes bbolt's consistency
// check, and after each restart every message has the flags of its last
// acknowledged STORE (or of the one in flight when the server died) and
// the mailbox keeps its UIDVALIDITY. Under "always" each kill is also a
// power loss: every rename of a message file not yet known to be fsynced
// is undone before the restart (loseUnsyncedNames), and the restarted
// server must redo them from its index. Under "delayed" a process crash loses
// nothing either: only a power loss or kernel crash can, and that case is
// TestFlagSyncDelayed's (mailstore/maildir).
func TestCrashStoreStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the daemon several times")
	}
	for _, mode := range []string{"always", "delayed"} {
		t.Run(mode, func(t *testing.T) {
			const (
				messages = 48
				clients  = 4
				kills    = 8
			)
			data := t.TempDir()
			addTestUser(t, data, "alice", "alice-pw")
			writeFile(t, filepath.Join(data, "dormouse.toml"), fmt.Sprintf("[store]\nflag_sync = %q\n", mode))
			d := startDaemon(t, data)
			c := dialIMAP(t, d.imap, nil)
			c.MustOK("LOGIN alice alice-pw")
			for i := 0; i < messages; i++ {
				c.Append("INBOX", fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
			}
			c.Close()
			st := &stormState{acked: map[uint32][]string{}, pending: map[uint32][]string{}}
			for uid := uint32(1); uid <= messages; uid++ {
				st.acked[uid] = nil
			}
			uidValidity := ""
			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			undone := 0
			for k := 0; k < kills; k++ {
				uidValidity = checkStorm(t, d.imap, st, uidValidity)
				var acks atomic.Int64
				var wg sync.WaitGroup
				for g := 0; g < clients; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						storm(d.imap, g, clients, messages, st, &acks)
					}()
				}
				// Kill after a random number of acknowledged STOREs.
				target := int64(100 + rng.Intn(300))
				deadline := time.Now().Add(60 * time.Second)
				for acks.Load() < target && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				if acks.Load() < target {
					t.Fatalf("only %d STOREs acknowledged in 60 s", acks.Load())
				}
				d.cmd.Process.Kill()
				<-d.exited
				wg.Wait()
				t.Logf("kill %d after %d acknowledged STOREs", k+1, acks.Load())
				checkIndex(t, filepath.Join(data, "users", "alice", "index.db"))
				if mode == "always" {
					n := loseUnsyncedNames(t, filepath.Join(data, "users", "alice"))
					t.Logf("power loss simulated: %d renames undone", n)
					undone += n
				}
				d = startDaemon(t, data)
			}
			checkStorm(t, d.imap, st, uidValidity)
			if mode == "always" && undone == 0 {
				t.Errorf("no rename was left to undo in %d kills: the power loss was not simulated", kills)
			}
		})
	}
}

// storm STOREs flag sets on its share of the messages (those whose UID
// is g modulo clients) until the connection fails, noting each STORE in
// st before sending it and after its OK.
func storm(addr string, g, clients, messages int, st *stormState, acks *atomic.Int64) {
	c, _, err := imaptest.Dial(context.Background(), addr, imaptest.DialOptions{Timeout: 30 * time.Second})
	if err != nil {
		return
	}
	defer c.Close()
	if c.Login("alice", "alice-pw") != nil {
		return
	}
	if s, err := c.Command("SELECT INBOX", nil); err != nil || !imaptest.IsOK(s) {
		return
	}
	for n := 0; ; n++ {
		uid := uint32(1 + g + clients*(n%(messages/clients)))
		v := stormValue(n/(messages/clients) + g)
		st.mu.Lock()
		st.pending[uid] = v
		st.mu.Unlock()
		s, err := c.Command(fmt.Sprintf("UID STORE %d FLAGS.SILENT (%s)", uid, strings.Join(v, " ")), nil)
		if err != nil || !imaptest.IsOK(s) {
			return // the server died: the STORE stays pending
		}
		st.mu.Lock()
		st.acked[uid] = v
		delete(st.pending, uid)
		st.mu.Unlock()
		acks.Add(1)
	}
}

var (
	fetchUID    = regexp.MustCompile(`UID (\d+)`)
	fetchFlags  = regexp.MustCompile(`FLAGS \(([^)]*)\)`)
	uidValidRes = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)
)

// checkStorm checks, on a fresh connection, that every message has the
// flags of its last acknowledged STORE or of its pending one, and that
// UIDVALIDITY is uidValidity (unless ""); it takes what it found as the
// new acknowledged state and returns the UIDVALIDITY.
func checkStorm(t *testing.T, addr string, st *stormState, uidValidity string) string {
	t.Helper()
	c := dialIMAP(t, addr, nil)
	defer c.Close()
	c.MustOK("LOGIN alice alice-pw")
	uv := ""
	for _, l := range c.MustOK("SELECT INBOX") {
		if m := uidValidRes.FindStringSubmatch(l); m != nil {
			uv = m[1]
		}
	}
	if uidValidity != "" && uv != uidValidity {
		t.Errorf("UIDVALIDITY %s after the restart, was %s: the index was rebuilt", uv, uidValidity)
	}
	got := map[uint32][]string{}
	for _, l := range c.MustOK("UID FETCH 1:* (FLAGS)") {
		u, f := fetchUID.FindStringSubmatch(l), fetchFlags.FindStringSubmatch(l)
		if u == nil || f == nil {
			continue
		}
		uid, _ := strconv.ParseUint(u[1], 10, 32)
		var flags []string
		for _, x := range strings.Fields(f[1]) {
			if x != `\Recent` {
				flags = append(flags, x)
			}
		}
		slices.Sort(flags)
		got[uint32(uid)] = flags
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	lost := 0
	for uid, want := range st.acked {
		g, ok := got[uid]
		if !ok {
			t.Errorf("UID %d missing", uid)
			continue
		}
		if p, inFlight := st.pending[uid]; inFlight && (slices.Equal(g, p) || slices.Equal(g, torn(want, p))) {
			continue
		}
		if !slices.Equal(g, want) {
			lost++
			t.Errorf("UID %d: flags %v, want the acknowledged %v (or the pending %v)", uid, g, want, st.pending[uid])
		}
	}
	for uid, g := range got {
		st.acked[uid] = g
	}
	clear(st.pending)
	if lost > 0 {
		t.Errorf("%d acknowledged changes lost", lost)
	}
	return uv
}

// torn is what a STORE that was in flight when the server died may leave:
// its transaction renames the file (the system flags are in its name)
// before it commits, and the restarted server takes the name it finds
// for a change made on disk, so the system flags may be the pending
// STORE's and the keywords (index only) the acknowledged one's. Neither
// was acknowledged as lost: the pending STORE was never answered.
func torn(acked, pending []string) []string {
	var out []string
	for _, f := range pending {
		if strings.HasPrefix(f, `\`) {
			out = append(out, f)
		}
	}
	for _, f := range acked {
		if !strings.HasPrefix(f, `\`) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// loseUnsyncedNames does to INBOX's cur/ in the user folder dir what a
// power loss at the moment of the kill could have done under flag_sync
// "always": undo every rename whose folder was not yet known to be
// fsynced, that is every rename still in the index's name log
// (mailstore/maildir/namelog.go: bucket "namelog", each entry a mailbox
// id of 8 bytes, the old name, '/', the new name), last first. The
// commits that logged them were fdatasynced before their OK, so the
// restarted server must redo them. It returns how many it undid.
func loseUnsyncedNames(t *testing.T, dir string) int {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open index after the kill: %v", err)
	}
	var renames [][2]string
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("namelog"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			old, new, ok := strings.Cut(string(v[8:]), "/")
			if !ok || new == "" {
				return fmt.Errorf("name log entry %q: want a rename", v)
			}
			renames = append(renames, [2]string{old, new})
			return nil
		})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(dir, "Maildir", "cur")
	n := 0
	for i := len(renames) - 1; i >= 0; i-- {
		from, to := filepath.Join(cur, renames[i][1]), filepath.Join(cur, renames[i][0])
		if _, err := os.Stat(to); err == nil {
			continue
		}
		if err := os.Rename(from, to); err == nil {
			n++
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return n
}

// checkIndex runs bbolt's consistency check on an index no process has
// open.
func checkIndex(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open index after the kill: %v", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("index check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
