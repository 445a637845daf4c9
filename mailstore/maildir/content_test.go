package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
	"golang.org/x/sys/unix"
)

// toCRLF is the reference conversion.
func toCRLF(b []byte) []byte {
	var out []byte
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// TestContentCRLF reads bare-LF files dropped by an MDA through Open, with
// Read and with ReadAt at random offsets, against a reference conversion.
func TestContentCRLF(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	mk := func(n int, crlfShare float64) []byte {
		var b bytes.Buffer
		for b.Len() < n {
			line := make([]byte, rng.Intn(120))
			for i := range line {
				line[i] = byte('a' + rng.Intn(26))
			}
			b.Write(line)
			if rng.Float64() < crlfShare {
				b.WriteString("\r\n")
			} else {
				b.WriteString("\n")
			}
		}
		return b.Bytes()
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"no newline", []byte("x")},
		{"lf only", []byte("\n\n\n")},
		{"cr then lf", []byte("a\r\nb\nc\r\r\n\n")},
		{"mixed 300k", mk(300<<10, 0.3)},
		{"bare lf 8M", mk(8<<20, 0)},
		{"crlf 1M", mk(1<<20, 1)},
	}
	s, root := testStore(t, Options{})
	u := testUser(t, s, "jo")
	m := testMailbox(t, u, "INBOX")
	newDir := filepath.Join(root, "users/jo/Maildir/new")
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Written in tmp/ and renamed into new/, as an MDA does: a file
			// written in place could be indexed while half written.
			base := "17000000" + string(rune('0'+i)) + ".test"
			tmp := filepath.Join(filepath.Dir(newDir), "tmp", base)
			if err := os.WriteFile(tmp, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(newDir, base)); err != nil {
				t.Fatal(err)
			}
			// The open handle's watcher indexes the file; wait for it.
			want := toCRLF(tc.data)
			var uid uint32
			for try := 0; try < 100 && uid == 0; try++ {
				v, _ := m.Snapshot(context.Background())
				if v.Messages.Len() > i {
					uid = v.Messages.At(i).UID
					if v.Messages.At(i).Size != int64(len(want)) {
						t.Fatalf("size %d, want %d", v.Messages.At(i).Size, len(want))
					}
				} else {
					sleepMs(10)
				}
			}
			if uid == 0 {
				t.Fatal("file not indexed")
			}
			c, err := m.Open(context.Background(), uid)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Read: %d bytes (want %d), err %v", len(got), len(want), err)
			}
			for k := 0; k < 200 && len(want) > 0; k++ {
				off := rng.Int63n(int64(len(want)))
				buf := make([]byte, rng.Intn(5000)+1)
				n, err := c.ReadAt(buf, off)
				end := off + int64(len(buf))
				if end > int64(len(want)) {
					end = int64(len(want))
				}
				if !bytes.Equal(buf[:n], want[off:end]) || (n < len(buf) && err != io.EOF) {
					t.Fatalf("ReadAt(%d, %d): n=%d err=%v mismatch", len(buf), off, n, err)
				}
			}
		})
	}
}

// TestBigMessageStreams appends a 50 MiB bare-LF message and reads it back
// without the heap growing anywhere near the message size.
func TestBigMessageStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MiB message")
	}
	s, _ := testStore(t, Options{NoSync: true})
	u := testUser(t, s, "big")
	m := testMailbox(t, u, "INBOX")
	line := bytes.Repeat([]byte("0123456789"), 7)
	line = append(line, '\n')
	const size = 50 << 20
	lines := size / len(line)
	body := bytes.NewReader(bytes.Repeat(line, lines))
	ctx := context.Background()
	uid, err := m.Append(ctx, body, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := m.Open(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Size() != int64(lines*(len(line)+1)) {
		t.Fatalf("size %d", c.Size())
	}
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != c.Size() {
		t.Fatalf("copied %d, %v", n, err)
	}
	// A read in the middle starts from a checkpoint.
	buf := make([]byte, 73)
	if _, err := c.ReadAt(buf, 30<<20); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("reading allocated %d bytes", grew)
	}
}

// openCRLF writes data to a file and returns a crlfContent over it, as
// newContent makes one for a bare-LF file, and the reference conversion.
func openCRLF(t testing.TB, data []byte) (*crlfContent, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	want := toCRLF(data)
	return &crlfContent{f: f, size: int64(len(want)), fileSize: int64(len(data)), cps: []checkpoint{{}}}, want
}

// fresh returns a crlfContent over the same file with no checkpoints or
// hint yet.
func (c *crlfContent) fresh() *crlfContent {
	return &crlfContent{f: c.f, size: c.size, fileSize: c.fileSize, cps: []checkpoint{{}}}
}

// readBuf is checkReadAt's buffer, kept between calls: the tests read
// megabytes thousands of times.
var readBuf []byte

// checkReadAt compares ReadAt(len n, off) with the reference.
func checkReadAt(t *testing.T, c *crlfContent, want []byte, off int64, n int) {
	t.Helper()
	if cap(readBuf) < n {
		readBuf = make([]byte, n)
	}
	buf := readBuf[:n]
	got, err := c.ReadAt(buf, off)
	end := min(off+int64(n), int64(len(want)))
	wantN := int(max(end-off, 0))
	switch {
	case got != wantN || !bytes.Equal(buf[:got], want[off:off+int64(wantN)]):
		t.Fatalf("ReadAt(len %d, off %d) = %d bytes %q, want %d bytes %q",
			n, off, got, clip(buf[:got]), wantN, clip(want[off:off+int64(wantN)]))
	case got < n && err != io.EOF:
		t.Fatalf("ReadAt(len %d, off %d): short read with err %v", n, off, err)
	case got == n && err != nil:
		t.Fatalf("ReadAt(len %d, off %d): full read with err %v", n, off, err)
	}
}

// clip shortens b for a failure message.
func clip(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// checkCheckpoints checks that every checkpoint maps an output offset to
// the file offset and CR state the reference conversion has there, near
// a multiple of checkpointEvery, ascending.
func checkCheckpoints(t *testing.T, c *crlfContent, data []byte) {
	t.Helper()
	// outAt[i] is the output offset of file byte i.
	outAt := make(map[int64]int64, len(data)+1)
	var out int64
	for i, b := range data {
		outAt[int64(i)] = out
		if b == '\n' && (i == 0 || data[i-1] != '\r') {
			out++
		}
		out++
	}
	outAt[int64(len(data))] = out
	for i, cp := range c.cps {
		prevCR := cp.file > 0 && data[cp.file-1] == '\r'
		if o, ok := outAt[cp.file]; !ok || o != cp.out || cp.prevCR != prevCR {
			t.Fatalf("checkpoint %d %+v: file offset maps to output %d, prevCR %v", i, cp, o, prevCR)
		}
		if i > 0 && (cp.out <= c.cps[i-1].out || cp.out%checkpointEvery >= 2) {
			t.Fatalf("checkpoint %d %+v after %+v", i, cp, c.cps[i-1])
		}
	}
	if h := c.hint; h.out != 0 {
		if o, ok := outAt[h.file]; !ok || o != h.out || h.prevCR != (h.file > 0 && data[h.file-1] == '\r') {
			t.Fatalf("hint %+v: file offset maps to output %d", h, o)
		}
	}
}

// TestCRLFReadAtSmall tries every offset and length on short inputs made
// of 'a', CR and LF, each read on a fresh content and on one shared
// content whose hint moves with every read.
func TestCRLFReadAtSmall(t *testing.T) {
	inputs := []string{"", "a", "\n", "\r", "\r\n", "\n\r", "\n\n", "\r\r", "\r\r\n\n",
		"a\nb\r\nc\rd\n\n\r", "\n\r\n\r\n\n\r\r\n"}
	// Every string of length 5 over {a, CR, LF}.
	for k := 0; k < 243; k++ {
		var s []byte
		for x := k; len(s) < 5; x /= 3 {
			s = append(s, "a\r\n"[x%3])
		}
		inputs = append(inputs, string(s))
	}
	for _, in := range inputs {
		c, want := openCRLF(t, []byte(in))
		if c.Size() != int64(len(want)) {
			t.Fatalf("%q: size %d, want %d", in, c.Size(), len(want))
		}
		for off := int64(0); off <= int64(len(want)); off++ {
			for n := 1; int64(n) <= int64(len(want))-off+2; n++ {
				checkReadAt(t, c.fresh(), want, off, n)
				checkReadAt(t, c, want, off, n)
			}
		}
		checkCheckpoints(t, c, []byte(in))
	}
}

// TestCRLFReadAtBoundaries reads files larger than checkpointEvery around
// the places where the conversion can go wrong: bare LFs, CRLFs and lone
// CRs whose output lands on a checkpoint multiple, and CRLFs split across
// the file read buffer (32 KiB) or across reads.
func TestCRLFReadAtBoundaries(t *testing.T) {
	type file struct {
		name string
		data []byte
	}
	var files []file
	pad := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	for _, pat := range []string{"\n", "\r\n", "\n\n", "\r", "\r\r\n", "\n\r\n"} {
		for d := -3; d <= 3; d++ {
			// The pattern's output starts at checkpointEvery+d and again
			// near 2*checkpointEvery; file offsets cross 32 KiB reads too.
			var b []byte
			b = append(b, pad(checkpointEvery+d, 'a')...)
			b = append(b, pat...)
			b = append(b, pad(checkpointEvery-len(toCRLF([]byte(pat)))+d, 'b')...)
			b = append(b, pat...)
			b = append(b, pad(100, 'c')...)
			files = append(files, file{fmt.Sprintf("%q at %+d", pat, d), b})
		}
	}
	// Dense random CR and LF: every local pattern meets every boundary.
	rng := rand.New(rand.NewSource(2))
	for seed := 0; seed < 4; seed++ {
		b := make([]byte, 3*checkpointEvery+rng.Intn(1000))
		for i := range b {
			b[i] = "ab\r\n\n"[rng.Intn(5)]
		}
		files = append(files, file{fmt.Sprintf("dense %d", seed), b})
	}
	lengths := []int{1, 2, 3, 100, 32<<10 - 1, 32<<10 + 1, 1 << 20}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			c, want := openCRLF(t, f.data)
			var offs []int64
			for _, q := range []int64{0, 32 << 10, checkpointEvery, 96 << 10, 2 * checkpointEvery, 3 * checkpointEvery, int64(len(want))} {
				for d := int64(-4); d <= 4; d++ {
					if o := q + d; o >= 0 && o <= int64(len(want)) {
						offs = append(offs, o)
					}
				}
			}
			for _, off := range offs {
				for _, n := range lengths {
					checkReadAt(t, c.fresh(), want, off, n)
					checkReadAt(t, c, want, off, n)
				}
			}
			checkCheckpoints(t, c, f.data)
			// Sequential reads of small sizes across each boundary, each
			// continuing from the hint the one before left.
			for _, n := range []int{1, 2, 3, 7} {
				s := c.fresh()
				for _, q := range offs {
					off := max(q-10, 0)
					end := min(q+10, int64(len(want)))
					for ; off < end; off += int64(n) {
						checkReadAt(t, s, want, off, n)
					}
				}
				checkCheckpoints(t, s, f.data)
			}
			// Whole sequential passes from a fresh content record one
			// checkpoint per multiple of checkpointEvery.
			for _, n := range []int{4096, 32<<10 + 1} {
				s := c.fresh()
				got, err := io.ReadAll(io.LimitReader(readerFunc(func(p []byte) (int, error) {
					return s.Read(p[:min(len(p), n)])
				}), int64(len(want))+10))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("sequential reads of %d: %d bytes (want %d), err %v", n, len(got), len(want), err)
				}
				checkCheckpoints(t, s, f.data)
				if len(s.cps) != (len(want)-2)/checkpointEvery+1 {
					t.Fatalf("sequential reads of %d: %d checkpoints for %d bytes", n, len(s.cps), len(want))
				}
			}
		})
	}
}

type readerFunc func(p []byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestCRLFReadAtConcurrent reads one content from several goroutines at
// random offsets (run with -race to check the locking too).
func TestCRLFReadAtConcurrent(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	data := make([]byte, 5*checkpointEvery)
	for i := range data {
		data[i] = "abc\r\n\n"[rng.Intn(6)]
	}
	c, want := openCRLF(t, data)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for k := 0; k < 300; k++ {
				off := rng.Int63n(int64(len(want)))
				buf := make([]byte, rng.Intn(20000)+1)
				n, _ := c.ReadAt(buf, off)
				if end := min(off+int64(len(buf)), int64(len(want))); !bytes.Equal(buf[:n], want[off:end]) {
					errs <- fmt.Errorf("ReadAt(len %d, off %d) mismatch", len(buf), off)
					return
				}
			}
		}(int64(g))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkCheckpoints(t, c, data)
}

// BenchmarkCRLFContentRead reads a 1 MiB bare-LF message through the
// conversion, sequentially in 32 KiB reads as FETCH BODY[] does.
func BenchmarkCRLFContentRead(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	var data []byte
	for len(data) < 1<<20 {
		line := make([]byte, 40+rng.Intn(60))
		for i := range line {
			line[i] = byte('a' + rng.Intn(26))
		}
		data = append(append(data, line...), '\n')
	}
	c, want := openCRLF(b, data[:1<<20])
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(want)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := c.fresh()
		var total int64
		for {
			n, err := s.Read(buf)
			total += int64(n)
			if err != nil {
				break
			}
		}
		if total != int64(len(want)) {
			b.Fatalf("read %d of %d", total, len(want))
		}
	}
}

// TestOpenMessageFile checks that a message file opened without os.Open
// is what os.Open would have given for a regular file (blocking,
// close-on-exec, outside the poller, so no deadlines), with its size, and
// that a missing one reports os.ErrNotExist, on which Open retries.
func TestOpenMessageFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "msg")
	if err := os.WriteFile(path, []byte("Subject: x\n\nbody\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, size, err := openMessageFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if size != 17 {
		t.Errorf("size %d, want 17", size)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags, fdFlags int
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		flags, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0)
		if ferr == nil {
			fdFlags, ferr = unix.FcntlInt(fd, unix.F_GETFD, 0)
		}
	}); err != nil || ferr != nil {
		t.Fatal(err, ferr)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Error("message file is non-blocking")
	}
	if fdFlags&unix.FD_CLOEXEC == 0 {
		t.Error("message file is not close-on-exec")
	}
	// A deadline works only on a polled file: this one must refuse it.
	if err := f.SetReadDeadline(time.Now()); err == nil {
		t.Error("message file accepts deadlines: it is in the poller")
	}
	b := make([]byte, 4)
	if n, err := f.ReadAt(b, 12); n != 4 || err != nil || string(b) != "body" {
		t.Errorf("ReadAt = %d %q %v", n, b, err)
	}
	if _, _, err := openMessageFile(filepath.Join(dir, "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

// BenchmarkOpenMessageFile compares openMessageFile with os.Open and Stat,
// what Open did before, on one small message file.
func BenchmarkOpenMessageFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "msg")
	if err := os.WriteFile(path, []byte("Subject: x\n\nbody\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Run("openMessageFile", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f, _, err := openMessageFile(path)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("os.Open", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Stat(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// TestCRLFReadWholeMismatch: a whole read of a file that no longer
// holds what the store counted (more bare LFs, fewer, a different size)
// gives what the byte-wise conversion gives, not a corrupt message.
func TestCRLFReadWholeMismatch(t *testing.T) {
	for _, tt := range []struct{ data, counted string }{
		{"a\nb\nc\n", "a\r\nb\r\nc"},     // one bare LF more than counted
		{"a\r\nb\nc", "a\nb\nc\n"},       // one fewer
		{"a\nb\n", "a\nb\nc\nd\n"},       // the file shrank
		{"a\nb\nc\nd\ne\n", "a\nb\nc\n"}, // the file grew
		{"\n\n\n\n", "\n\n\n\n\n\n\n\n"}, // only bare LFs, counted twice
	} {
		c, _ := openCRLF(t, []byte(tt.data))
		c.size = int64(len(toCRLF([]byte(tt.counted))))
		// Reads shorter than the content take the byte-wise conversion.
		want := make([]byte, c.size+3)
		ref := c.fresh()
		first, _ := ref.ReadAt(want[:1], 0)
		rest, wantErr := ref.ReadAt(want[1:], 1)
		wantN := first + rest
		got := make([]byte, c.size+3)
		n, err := c.fresh().ReadAt(got, 0)
		if n != wantN || err != wantErr || !bytes.Equal(got[:n], want[:wantN]) {
			t.Errorf("file %q counted as %q: ReadAt = %q, %v; the conversion gives %q, %v",
				tt.data, tt.counted, got[:n], err, want[:wantN], wantErr)
		}
	}
}

// TestOpenMany: OpenMany opens each message as Open does, with one
// lookup for all: a message not in the mailbox gives ErrNoMessage, and
// one whose file was renamed after the lookup (a flag change) is still
// opened.
func TestOpenMany(t *testing.T) {
	ctx := context.Background()
	s, _ := testStore(t, Options{})
	m := testMailbox(t, testUser(t, s, "alice"), "INBOX")
	a := mustAppend(t, m, msg("one"))
	b := mustAppend(t, m, "Subject: bare\n\nLF line ends\n")
	c := mustAppend(t, m, msg("three"))
	open, err := m.(mailstore.ManyOpener).OpenMany(ctx, []uint32{a, b, c, c + 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.StoreFlags(ctx, []uint32{c}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
		t.Fatal(err)
	}
	for i, uid := range []uint32{a, b, c} {
		content, err := open(i)
		if err != nil {
			t.Fatalf("open %d (uid %d): %v", i, uid, err)
		}
		got, err := io.ReadAll(io.NewSectionReader(content, 0, content.Size()))
		content.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := readAll(t, m, uid); string(got) != want {
			t.Errorf("uid %d: OpenMany gives %q, Open %q", uid, got, want)
		}
	}
	if _, err := open(3); !errors.Is(err, mailstore.ErrNoMessage) {
		t.Errorf("open of a UID not in the mailbox: %v, want ErrNoMessage", err)
	}
}
