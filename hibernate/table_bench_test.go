package hibernate

import (
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"
)

// million is the table size the benchmarks measure: the issue asks what a
// million sleeping connections cost, more than one process can hold
// sockets for here.
const million = 1_000_000

// benchBlob is a typical state blob (TestStateSize), stored inline.
func benchBlob(tb testing.TB) []byte { return benchBlobOf(tb, typicalState()) }

// benchBlobOf is the blob of s.
func benchBlobOf(tb testing.TB, s State) []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// userNames returns n distinct user names, made before a measurement so
// that their bytes are not counted unless the table keeps them.
func userNames(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = "user" + strconv.Itoa(i) + "@example.org"
	}
	return u
}

// fillTable hibernates n connections, fd i for entry i, spread over users
// (devices = n/len(users) each, all on INBOX) and over one keepalive
// interval, each with st's blob under its own user's name.
func fillTable(tb testing.TB, n int, users []string, st State) (*Table, []Token) {
	t := NewTable(TableConfig{Capacity: n, Epoch: t0})
	toks := make([]Token, n)
	step := 2 * time.Minute / time.Duration(n)
	var blob []byte
	for i := range n {
		st.User, st.Mailbox = users[i%len(users)], "INBOX"
		var err error
		if blob, err = st.AppendBinary(blob[:0]); err != nil {
			tb.Fatal(err)
		}
		tok, err := t.Insert(i, st.User, st.Mailbox, blob, t0.Add(time.Duration(i)*step))
		if err != nil {
			tb.Fatal(err)
		}
		toks[i] = tok
	}
	return t, toks
}

// BenchmarkTable1M measures the table at a million entries:
//
//	go test -run '^$' -bench Table1M -benchmem ./hibernate/
func BenchmarkTable1M(b *testing.B) {
	users := userNames(million / 4)     // four devices per user
	blobs := make([][]byte, len(users)) // each user's typical blob
	for i, u := range users {
		st := typicalState()
		st.User = u
		blobs[i] = benchBlobOf(b, st)
	}
	// Wakes come in no order: visit entries in a fixed random
	// permutation, since a constant stride would let the hardware
	// prefetcher hide the cache misses a real server pays.
	perm := rand.New(rand.NewPCG(7, 11)).Perm(million)
	scatter := func(k, n int) int { return perm[k%n] }
	b.Run("Insert", func(b *testing.B) {
		// Insert into a table growing to a million, then start over
		// (untimed), so every op lands in a table of 0..1M entries.
		b.ReportAllocs()
		var t *Table
		i := million
		step := 2 * time.Minute / million
		for b.Loop() {
			if i == million {
				b.StopTimer()
				t, i = NewTable(TableConfig{Capacity: million, Epoch: t0}), 0
				b.StartTimer()
			}
			if _, err := t.Insert(i, users[i%len(users)], "INBOX", blobs[i%len(users)], t0.Add(time.Duration(i)*step)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	t, toks := fillTable(b, million, users, typicalState())
	b.Run("LookupToken", func(b *testing.B) {
		k := 0
		for b.Loop() {
			if _, err := t.Lookup(toks[scatter(k, million)]); err != nil {
				b.Fatal(err)
			}
			k++
		}
	})
	b.Run("ByFD", func(b *testing.B) {
		k := 0
		for b.Loop() {
			if _, ok := t.ByFD(scatter(k, million)); !ok {
				b.Fatal("not found")
			}
			k++
		}
	})
	b.Run("AppendBlob", func(b *testing.B) {
		buf := make([]byte, 0, 128)
		k := 0
		for b.Loop() {
			buf, _ = t.AppendBlob(buf[:0], toks[scatter(k, million)])
			k++
		}
	})
	b.Run("RemoveInsert", func(b *testing.B) {
		// Steady state at a million: one wakes, another sleeps.
		b.ReportAllocs()
		k := 0
		for b.Loop() {
			i := scatter(k, million)
			if err := t.Remove(toks[i]); err != nil {
				b.Fatal(err)
			}
			tok, err := t.Insert(i, users[i%len(users)], "INBOX", blobs[i%len(users)], t0)
			if err != nil {
				b.Fatal(err)
			}
			toks[i] = tok
			k++
		}
	})
	b.Run("Keepalive", func(b *testing.B) {
		// One tick of the shared timer: a million over two minutes
		// is ~8,300 keepalives a second.
		var due []Token
		now := t0.Add(2 * time.Minute)
		n := 0
		for b.Loop() {
			due = t.AppendDueKeepalives(due[:0], now)
			n += len(due)
			now = now.Add(time.Second)
		}
		b.ReportMetric(float64(n)/float64(b.N), "due/tick")
		if n > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/keepalive")
		}
	})
	b.Run("Remove", func(b *testing.B) {
		// Remove from a full million in scattered order, refilling
		// (untimed) when empty.
		var t *Table
		var toks []Token
		k := million
		for b.Loop() {
			if k == million {
				b.StopTimer()
				t, toks = fillTable(b, million, users, typicalState())
				k = 0
				b.StartTimer()
			}
			if err := t.Remove(toks[scatter(k, million)]); err != nil {
				b.Fatal(err)
			}
			k++
		}
	})
	b.Run("FanOut", func(b *testing.B) {
		// One delivery to a mailbox a million connections wait on.
		t, _ := fillTable(b, million, []string{"alice@example.org"}, typicalState())
		sub, _ := t.Subscriptions().Lookup("alice@example.org", "INBOX")
		waiters := make([]Token, 0, million)
		for b.Loop() {
			waiters = t.AppendWaiters(waiters[:0], sub)
		}
		if len(waiters) != million {
			b.Fatalf("%d waiters", len(waiters))
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/million, "ns/waiter")
	})
	b.Run("FanOutBlobs", func(b *testing.B) {
		// The same, reading each waiter's blob, as a wake that replays
		// from the blob does.
		t, _ := fillTable(b, million, []string{"alice@example.org"}, typicalState())
		sub, _ := t.Subscriptions().Lookup("alice@example.org", "INBOX")
		waiters := make([]Token, 0, million)
		buf := make([]byte, 0, 128)
		for b.Loop() {
			waiters = t.AppendWaiters(waiters[:0], sub)
			for _, w := range waiters {
				buf, _ = t.AppendBlob(buf[:0], w)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/million, "ns/waiter")
	})
}

// heapSnapshot is what TestMeasureTable compares before and after.
type heapSnapshot struct {
	heapAlloc uint64 // runtime.MemStats.HeapAlloc
	scannable uint64 // /gc/scan/heap:bytes: what the GC must scan
}

func snapshot() heapSnapshot {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return heapSnapshot{heapAlloc: ms.HeapAlloc, scannable: s[0].Value.Uint64()}
}

// gcCost runs forced collections and returns the mean wall time of one
// and the mean stop-the-world pause it caused.
func gcCost() (wall, pause time.Duration) {
	const rounds = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range rounds {
		runtime.GC()
	}
	wall = time.Since(start) / rounds
	runtime.ReadMemStats(&after)
	pause = time.Duration(after.PauseTotalNs-before.PauseTotalNs) / rounds
	return wall, pause
}

// pointerConn is what a conventional server keeps per idle connection,
// for the GC comparison: an object per connection reached through a map.
type pointerConn struct {
	user, mailbox string
	blob          []byte
	since         time.Time
}

// TestMeasureTable reports the memory and GC cost of a million-entry
// table. It runs only with DORMOUSE_MEASURE=1:
//
//	DORMOUSE_MEASURE=1 go test -run MeasureTable -v ./hibernate/
func TestMeasureTable(t *testing.T) {
	if os.Getenv("DORMOUSE_MEASURE") == "" {
		t.Skip("set DORMOUSE_MEASURE=1 to measure")
	}
	blob := benchBlob(t)
	wall0, pause0 := gcCost()
	t.Logf("empty heap: GC %v wall, %v pause", wall0, pause0)

	cases := []struct {
		name  string
		users int
	}{
		{"1M connections on one mailbox", 1},
		{"1M connections, 250k users x 4 devices", million / 4},
	}
	for _, c := range cases {
		users := userNames(c.users)
		before := snapshot()
		tb, _ := fillTable(t, million, users, typicalState()) // the caller's token list is not part of the table
		after := snapshot()
		wall, pause := gcCost()
		t.Logf("%s: %.1f B/entry (HeapAlloc delta / 1e6), GC-scannable heap +%.1f B/entry, GC %v wall, %v pause",
			c.name, float64(after.heapAlloc-before.heapAlloc)/million,
			float64(int64(after.scannable)-int64(before.scannable))/million, wall, pause)
		runtime.KeepAlive(tb)
	}

	// The same million as pointer-rich objects, for contrast.
	before := snapshot()
	m := make(map[int]*pointerConn, million)
	for i := range million {
		m[i] = &pointerConn{user: "alice@example.org", mailbox: "INBOX", blob: append([]byte(nil), blob...), since: t0}
	}
	after := snapshot()
	wall, pause := gcCost()
	t.Logf("contrast, map[int]*conn with a blob each: %.1f B/entry, GC-scannable heap +%.1f B/entry, GC %v wall, %v pause",
		float64(after.heapAlloc-before.heapAlloc)/million,
		float64(int64(after.scannable)-int64(before.scannable))/million, wall, pause)
	runtime.KeepAlive(m)
}
