package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/dormouse/dormouse/mailstore"
)

// Open returns a message's content with CRLF line ends. A file that
// already has them (its size equals RFC822.SIZE) is read as is; a file
// with bare LFs is converted while it is read.
func (h *mailboxHandle) Open(ctx context.Context, uid uint32) (mailstore.Content, error) {
	// A flag change may rename the file between the index read and the
	// open: try again with the new name.
	for attempt := 0; attempt < 5; attempt++ {
		var path string
		var size int64
		err := h.view(func(m *mboxTx) error {
			r, ok, err := m.get(uid, true)
			if err != nil {
				return err
			}
			if !ok {
				return mailstore.ErrNoMessage
			}
			path, size = filepath.Join(m.dir, "cur", r.file), r.size
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("open message %d in %s: %w", uid, h.name, err)
		}
		c, err := h.openFile(uid, path, size)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		return c, err
	}
	return nil, fmt.Errorf("open message %d in %s: file vanished: %w", uid, h.name, mailstore.ErrNoMessage)
}

var _ mailstore.ManyOpener = (*mailboxHandle)(nil)

// OpenMany implements mailstore.ManyOpener: the files of uids are looked
// up in one read transaction; a file renamed since (a flag change) is
// opened through Open, which looks again.
func (h *mailboxHandle) OpenMany(ctx context.Context, uids []uint32) (func(i int) (mailstore.Content, error), error) {
	found, err := h.filesOf(len(uids), func(i int) uint32 { return uids[i] })
	if err != nil {
		return nil, fmt.Errorf("open messages in %s: %w", h.name, err)
	}
	return func(i int) (mailstore.Content, error) {
		loc := found[i]
		if loc.path == "" {
			return nil, fmt.Errorf("open message %d in %s: %w", uids[i], h.name, mailstore.ErrNoMessage)
		}
		c, err := h.openFile(uids[i], loc.path, loc.size)
		if errors.Is(err, os.ErrNotExist) {
			return h.Open(ctx, uids[i])
		}
		return c, err
	}, nil
}

// messageFile is where a message's file is, and its size with CRLF line
// ends; path is "" when the index has no such message.
type messageFile struct {
	path string
	size int64
}

// filesOf looks up the files of n messages, the i-th of UID uid(i), in
// one read transaction of the index.
func (h *mailboxHandle) filesOf(n int, uid func(i int) uint32) ([]messageFile, error) {
	found := make([]messageFile, n)
	err := h.view(func(m *mboxTx) error {
		for i := range found {
			r, ok, err := m.get(uid(i), true)
			if err != nil {
				return err
			}
			if ok {
				found[i] = messageFile{filepath.Join(m.dir, "cur", r.file), r.size}
			}
		}
		return nil
	})
	return found, err
}

// openFile opens message uid's file at path, whose content with CRLF line
// ends has size bytes. An error wraps os.ErrNotExist when the file is
// gone (renamed by a flag change since the index was read).
func (h *mailboxHandle) openFile(uid uint32, path string, size int64) (mailstore.Content, error) {
	h.u.noteOpened()
	f, fileSize, err := openMessageFile(path)
	if err != nil {
		return nil, fmt.Errorf("open message %d in %s: %w", uid, h.name, err)
	}
	return newContent(f, fileSize, size), nil
}

// openMessageFile opens a message file for reading and returns its size.
//
// It is os.Open without the poller: os.Open makes every file it opens
// non-blocking and offers it to the netpoller (two fcntl calls, an
// epoll_ctl that fails for a regular file, two more fcntl calls to undo
// it), a fifth of the cost of opening a message for FETCH. os.NewFile of
// a blocking descriptor leaves it blocking and out of the poller, which
// is right for a regular file: its reads never wait for the network.
func openMessageFile(path string) (*os.File, int64, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, 0, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), st.Size, nil
}

// newContent wraps an open message file of fileSize bytes whose content
// with CRLF line ends has size bytes.
func newContent(f *os.File, fileSize, size int64) mailstore.Content {
	if fileSize == size {
		// No bare LF: each would have made RFC822.SIZE bigger.
		return &plainContent{f: f, sr: io.NewSectionReader(f, 0, size)}
	}
	return &crlfContent{f: f, size: size, fileSize: fileSize, cps: []checkpoint{{}}}
}

// plainContent is a file that needs no conversion.
type plainContent struct {
	f  *os.File
	sr *io.SectionReader
}

func (c *plainContent) Read(p []byte) (int, error)              { return c.sr.Read(p) }
func (c *plainContent) ReadAt(p []byte, off int64) (int, error) { return c.sr.ReadAt(p, off) }
func (c *plainContent) Size() int64                             { return c.sr.Size() }
func (c *plainContent) Close() error                            { return c.f.Close() }

// checkpointEvery is the spacing of the checkpoint table, in output bytes:
// a 50 MiB message needs about 800 entries.
const checkpointEvery = 64 << 10

// checkpoint maps an output (CRLF) offset to the file offset where
// conversion can restart. The output offset is always at a boundary
// between whole converted file bytes.
type checkpoint struct {
	out, file int64
	prevCR    bool
}

// crlfContent presents a file with bare LFs as CRLF. ReadAt converts from
// the nearest checkpoint at or before the offset; checkpoints are recorded
// as the file is read, so the memory cost stays small whatever the size.
type crlfContent struct {
	f        *os.File
	size     int64
	fileSize int64 // at Open; sizes the read buffer

	// mu serializes reads: they share buf, the checkpoints and the hint.
	mu  sync.Mutex
	buf []byte
	cps []checkpoint // ascending by out; cps[0] is {0,0,false}
	// hint is where the last ReadAt stopped, so that sequential reads
	// continue there instead of at the checkpoint before.
	hint checkpoint
	pos  int64 // for Read, which is not for concurrent use
}

func (c *crlfContent) Size() int64  { return c.size }
func (c *crlfContent) Close() error { return c.f.Close() }

// Read reads sequentially; like an *os.File it must not be called from
// several goroutines at once.
func (c *crlfContent) Read(p []byte) (int, error) {
	n, err := c.ReadAt(p, c.pos)
	c.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt fills p with output bytes from off.
//
// It converts in runs: the bytes up to the next LF are copied as they
// are, and only a bare LF costs a byte-wise step (the CR it gains), so
// the usual long lines cost one copy.
func (c *crlfContent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= c.size {
		return 0, io.EOF
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if off == 0 && int64(len(p)) >= c.size && c.readWhole(p[:c.size]) {
		c.hint = checkpoint{out: c.size, file: c.fileSize, prevCR: c.size > 0 && p[c.size-1] == '\r'}
		if int64(len(p)) > c.size {
			return int(c.size), io.EOF
		}
		return int(c.size), nil
	}
	i := sort.Search(len(c.cps), func(i int) bool { return c.cps[i].out > off }) - 1
	cp := c.cps[i]
	if c.hint.out <= off && c.hint.out > cp.out {
		cp = c.hint
	}
	last := c.cps[len(c.cps)-1].out

	if c.buf == nil {
		// Most messages are a few KiB: a buffer no bigger than the file
		// keeps each FETCH from allocating (and the GC from clearing)
		// a large one.
		c.buf = make([]byte, min(max(c.fileSize, 512), 32<<10))
	}
	buf := c.buf
	var newCPs []checkpoint
	out, fileOff, prevCR := cp.out, cp.file, cp.prevCR
	next := nextCheckpoint(last, out)
	n := 0
	for n < len(p) && out < c.size {
		// Each file byte makes at least one output byte: read no more
		// than the bytes to skip and to fill can need, so that a small
		// read (a bufio refill) does not cost a whole buffer's worth.
		want := int64(len(p)-n) + max(off-out, 0)
		k, err := c.f.ReadAt(buf[:min(int64(len(buf)), want)], fileOff)
		if k == 0 {
			if err == nil || err == io.EOF {
				break // the file shrank; report what we have
			}
			return n, err
		}
		b := buf[:k]
		for len(b) > 0 && n < len(p) {
			// Here out is at a file byte boundary: a checkpoint may go
			// here, one near each multiple of checkpointEvery past the
			// table (runs stop at the multiple, so out is on it, or one
			// past when a bare LF straddles it).
			if out >= next {
				newCPs = append(newCPs, checkpoint{out: out, file: fileOff, prevCR: prevCR})
				next = nextCheckpoint(out, out)
			}
			if b[0] == '\n' {
				if !prevCR {
					if out >= off {
						p[n] = '\r'
						n++
						if n == len(p) {
							// Only the CR fits: stop before the LF, so
							// that the hint does not pass the end of p
							// and the next sequential read starts there.
							break
						}
					}
					out++
				}
				if out >= off {
					p[n] = '\n'
					n++
				}
				out++
				fileOff++
				prevCR = false
				b = b[1:]
				continue
			}
			// A run of bytes that are copied as they are: up to the next
			// LF, the next checkpoint or the end of the chunk.
			run := bytes.IndexByte(b, '\n')
			if run < 0 {
				run = len(b)
			}
			run = int(min(int64(run), next-out))
			skip := int(min(max(off-out, 0), int64(run)))
			copied := copy(p[n:], b[skip:run])
			n += copied
			used := skip + copied
			out += int64(used)
			fileOff += int64(used)
			prevCR = b[used-1] == '\r'
			b = b[used:]
		}
	}
	c.cps = append(c.cps, newCPs...)
	// The loop stops at a file byte boundary: a valid place to restart.
	c.hint = checkpoint{out: out, file: fileOff, prevCR: prevCR}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readWhole fills p, of the content's size, with the whole content:
// one read of the file into the end of p, then the conversion in place,
// front to back, with no buffer of its own (a search reads each message
// whole: its buffer was most of the cost). The output never overtakes
// the input: it gains one byte per bare LF, and the input starts as many
// bytes in as the store counted bare LFs. It reports false, p's content
// undefined, when the file does not hold what the store recorded (it
// changed size, or has more or fewer bare LFs): ReadAt's conversion
// then reads it as it is.
func (c *crlfContent) readWhole(p []byte) bool {
	lfs := int(c.size - c.fileSize)
	if lfs < 0 {
		return false
	}
	if k, _ := c.f.ReadAt(p[lfs:], 0); k != len(p)-lfs {
		return false
	}
	out, in := 0, lfs
	prevCR := false
	for in < len(p) {
		run := bytes.IndexByte(p[in:], '\n')
		if run < 0 {
			run = len(p) - in
		}
		if run > 0 {
			copy(p[out:], p[in:in+run])
			out += run
			in += run
			prevCR = p[out-1] == '\r'
		}
		if in == len(p) {
			break
		}
		if !prevCR {
			if out == in {
				return false // more bare LFs than counted
			}
			p[out] = '\r'
			out++
		}
		p[out] = '\n'
		out++
		in++
		prevCR = false
	}
	return out == len(p)
}

// nextCheckpoint returns the output offset at which the next checkpoint
// is due, given the last one in the table: the first multiple of
// checkpointEvery at least half a spacing past it and not behind out (a
// conversion may start from a hint beyond the table).
func nextCheckpoint(last, out int64) int64 {
	t := max(last+checkpointEvery/2, out-1)
	return (t + checkpointEvery - 1) / checkpointEvery * checkpointEvery
}
