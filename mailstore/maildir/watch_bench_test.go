package maildir

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// BenchmarkExternalDelivery times one delivery from outside, the way an
// MDA does it (written to tmp/, renamed into new/), until a watcher of
// the INBOX has its MessagesAdded event: the store's part of the wake
// latency of an IDLE client. Deliveries are 20 ms apart, as single
// deliveries are, so each meets a quiet watcher; ns/op is the latency.
func BenchmarkExternalDelivery(b *testing.B) {
	s, root := testStore(b, Options{})
	u := testUser(b, s, "bob")
	m := testMailbox(b, u, "INBOX")
	mustAppend(b, m, msg("first"))
	md := filepath.Join(root, "users", "bob", "Maildir")
	w := watchEvents(b, s, "bob", "INBOX")
	body := []byte(msg("delivered"))
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		time.Sleep(20 * time.Millisecond)
		w.drain()
		name := fmt.Sprintf("1700000000.P%dQ1.bench", i)
		tmp := filepath.Join(md, "tmp", name)
		if err := os.WriteFile(tmp, body, 0o600); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := os.Rename(tmp, filepath.Join(md, "new", name)); err != nil {
			b.Fatal(err)
		}
		w.wait(b, mailstore.MessagesAdded, 5*time.Second)
	}
}
