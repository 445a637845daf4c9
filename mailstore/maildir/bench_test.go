package maildir

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/mailstore"
)

// benchMessages is the size of the benchmark mailbox.
const benchMessages = 100_000

// fixture is the 100,000-message Maildir shared by the benchmarks of one
// run. It is built once, lazily, so plain `go test` never pays for it.
type fixture struct {
	once sync.Once
	root string
	err  error
}

var benchFixture fixture // test-only; removed by TestMain

func TestMain(m *testing.M) {
	code := m.Run()
	for _, root := range []string{benchFixture.root, firstOpenDir.root} {
		if root != "" {
			os.RemoveAll(root)
		}
	}
	os.Exit(code)
}

// bigMailbox returns a store (fsync on, as in production) whose user
// "bench" has 100,000 messages in INBOX, a fifth of them \Seen.
//
// The fixture is built through the fast path: a Store opened with
// Options.NoSync (no fsync of files, folders or index) and AppendMany in
// batches of 1,000, one index transaction per batch. It then is reopened
// with the default, durable options for the measurements.
func bigMailbox(b *testing.B) (*Store, mailstore.Mailbox) {
	return bigMailboxOpts(b, Options{})
}

// bigMailboxOpts is bigMailbox with the store opened with opts.
func bigMailboxOpts(b *testing.B, opts Options) (*Store, mailstore.Mailbox) {
	b.Helper()
	f := &benchFixture
	f.once.Do(func() {
		f.root, f.err = os.MkdirTemp("", "dormouse-bench-")
		if f.err != nil {
			return
		}
		start := time.Now()
		s, err := Open(f.root, Options{NoSync: true, Logger: discardLogger()})
		if err != nil {
			f.err = err
			return
		}
		defer s.Close()
		ctx := context.Background()
		u, err := s.User(ctx, "bench")
		if err != nil {
			f.err = err
			return
		}
		defer u.Close()
		m, err := u.Mailbox(ctx, "INBOX")
		if err != nil {
			f.err = err
			return
		}
		defer m.Close()
		body := msg(strings.Repeat("benchmark ", 20))
		for n := 0; n < benchMessages; n += 1000 {
			reqs := make([]mailstore.AppendRequest, 1000)
			for i := range reqs {
				reqs[i].Body = strings.NewReader(body)
				if (n+i)%5 == 0 {
					reqs[i].Flags = []string{`\Seen`}
				}
			}
			if _, f.err = m.AppendMany(ctx, reqs); f.err != nil {
				return
			}
		}
		fmt.Fprintf(os.Stderr, "built %d-message fixture in %v\n", benchMessages, time.Since(start).Round(time.Millisecond))
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	s, err := Open(f.root, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	u := testUser(b, s, "bench")
	return s, testMailbox(b, u, "INBOX")
}

// BenchmarkAppend appends one small message, durably (fsync of file,
// folder and index), to the 100,000-message mailbox.
func BenchmarkAppend(b *testing.B) {
	_, m := bigMailbox(b)
	benchAppend(b, m)
}

// benchAppend measures appending one small message to m.
func benchAppend(b *testing.B, m mailstore.Mailbox) {
	ctx := context.Background()
	body := msg("appended")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Append(ctx, strings.NewReader(body), nil, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreFlags toggles \Seen on one message (a file rename and a
// durable index commit).
func BenchmarkStoreFlags(b *testing.B) {
	_, m := bigMailbox(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		uid := uint32(i*7919%benchMessages + 1)
		op := mailstore.FlagsAdd
		if i%2 == 1 {
			op = mailstore.FlagsRemove
		}
		if _, _, err := m.StoreFlags(ctx, []uint32{uid}, op, []string{`\Flagged`}, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChangesSince asks what changed in the last 100 MODSEQs (100
// flag changes spread over the mailbox).
func BenchmarkChangesSince(b *testing.B) {
	_, m := bigMailbox(b)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, _, err := m.StoreFlags(ctx, []uint32{uint32(i*997%benchMessages + 1)}, mailstore.FlagsAdd, []string{"$Bench"}, 0); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := m.ChangesSince(ctx, 0)
	since := st.HighestModSeq - 100
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch, err := m.ChangesSince(ctx, since)
		if err != nil || len(ch.Changed) == 0 {
			b.Fatal(err, len(ch.Changed))
		}
	}
}

// BenchmarkView opens a view of the 100,000-message mailbox.
func BenchmarkView(b *testing.B) {
	_, m := bigMailbox(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := m.Snapshot(ctx)
		if err != nil || v.Messages.Len() < benchMessages {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefresh refreshes a 100,000-message view after one flag change
// and one new message (the common wake-up: a delta, not a rebuild). Only
// the Refresh is timed. Refresh only reads, so the store runs with NoSync
// here: that makes the untimed changes between refreshes cheap without
// changing what is measured.
func BenchmarkRefresh(b *testing.B) {
	_, m := bigMailboxOpts(b, Options{NoSync: true})
	ctx := context.Background()
	v, err := imapview.Open(ctx, m, true)
	if err != nil {
		b.Fatal(err)
	}
	body := msg("refresh")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, _, err := m.StoreFlags(ctx, []uint32{uint32(i*7919%benchMessages + 1)}, mailstore.FlagsAdd, []string{`\Answered`}, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Append(ctx, strings.NewReader(body), nil, time.Time{}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		upd, err := imapview.Refresh(ctx, m, v)
		if err != nil || upd.Added != 1 {
			b.Fatal(err, upd)
		}
	}
}

// BenchmarkMessageList reads the message list of the 100,000-message
// mailbox from the index, as the first view of a mailbox state does (the
// views after it share that list: BenchmarkView).
func BenchmarkMessageList(b *testing.B) {
	_, m := bigMailbox(b)
	h := m.(*mailboxHandle)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := h.view(func(m *mboxTx) error {
			msgs, err := m.messageList()
			if err == nil && msgs.Len() < benchMessages {
				err = fmt.Errorf("%d messages", msgs.Len())
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
