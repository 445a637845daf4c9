package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/mailstore"
)

// envelopeVersion prefixes each kept envelope header, so that a later
// change of what is kept can tell old entries apart and read the message
// again. Version 2 added References (for THREAD).
const envelopeVersion = 2

var _ mailstore.EnvelopeCache = (*mailboxHandle)(nil)

// EnvelopeHeaders returns the envelope header of each message of uids, in
// order (nil for a message that is gone). Headers are kept in the index
// the first time they are asked for, as Dovecot's cache decides to keep a
// field once a client asks for it, and when Dormouse expunges a message
// (keepExpungedEnvelope); a message's content never changes, so an entry
// lives as long as its message and then as long as its expunge is in the
// expunge log (trimExpungeLog drops it): a session that has not been told
// of the expunge still sees the message's envelope.
func (h *mailboxHandle) EnvelopeHeaders(ctx context.Context, uids []uint32) ([][]byte, error) {
	out := make([][]byte, len(uids))
	var missing []int
	err := h.view(func(m *mboxTx) error {
		missing = m.keptEnvelopes(uids, out)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("envelope headers of %s: %w", h.name, err)
	}
	if len(missing) == 0 {
		return out, nil
	}
	vanished, err := h.readEnvelopes(ctx, uids, missing, out)
	if err != nil {
		return nil, err
	}
	fresh := make(map[uint32][]byte, len(missing))
	for _, i := range missing {
		if out[i] != nil {
			fresh[uids[i]] = out[i]
		}
	}
	if len(vanished) > 0 {
		// A file is gone that the index listed: an EXPUNGE or MOVE
		// removes files inside its transaction, after keeping their
		// envelopes (keepExpungedEnvelope), and a flag change renames
		// them (Open tries a few times). Once the writers under way are
		// done, and while no other can start, the kept envelope or the
		// file is there.
		err := h.afterWriters(func(m *mboxTx) error {
			for _, i := range vanished {
				if m.envelopes != nil {
					if v := m.envelopes.Get(u32(uids[i])); len(v) > 0 && v[0] == envelopeVersion {
						out[i] = bytes.Clone(v[1:])
						continue
					}
				}
				r, ok, err := m.get(uids[i], true)
				if err != nil || !ok {
					continue
				}
				out[i], _ = m.readEnvelope(&r)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("envelope headers of %s: %w", h.name, err)
		}
	}
	if len(fresh) > 0 {
		if err := h.keepEnvelopes(fresh); err != nil {
			// The answer stands; the next request reads the messages again.
			h.u.s.log.Warn("keep envelope headers", "user", h.u.name, "mailbox", h.name, "err", err)
		}
	}
	return out, nil
}

// keptEnvelopes sets blocks[i] to a copy of the kept envelope block of
// each uids[i] that has one of this version, and returns the is that
// have none. The copies share a few buffers, not one allocation each (a
// SEARCH FROM asks 100,000), sized to what they hold: the index's values
// are found first (valid until the transaction ends), then copied, so a
// FETCH of 20 envelopes copies its 10 KB into 10 KB, not into a buffer
// of envelopeBufSize (the active workload's largest allocation).
func (m *mboxTx) keptEnvelopes(uids []uint32, blocks [][]byte) []int {
	if m.envelopes != nil {
		var a arena
		eachKept(m.envelopes, uids, func(i int, v []byte) {
			if len(v) > 0 && v[0] == envelopeVersion {
				blocks[i] = v[1:]
				a.expect(len(v) - 1)
			}
		})
		for i, b := range blocks {
			if b != nil {
				blocks[i] = a.add(nil, b)
			}
		}
	}
	var missing []int
	for i := range uids {
		if blocks[i] == nil {
			missing = append(missing, i)
		}
	}
	return missing
}

// arena holds copies of many small values in shared buffers of at most
// envelopeBufSize (a few hundred envelope blocks each): one allocation
// for many, where bbolt needs the values until its commit or a caller
// after the transaction.
type arena struct {
	buf   []byte
	want  int  // bytes still to be added,
	sized bool // when the caller told (expect)
}

// expect tells the arena that n more bytes are to be added.
func (a *arena) expect(n int) {
	a.want += n
	a.sized = true
}

// envelopeBufSize is the size of an arena's buffers, and of the largest
// when the caller tells what is to come.
const envelopeBufSize = 64 << 10

// add returns a copy of prefix followed by v, never nil.
func (a *arena) add(prefix, v []byte) []byte {
	n := len(prefix) + len(v)
	if a.buf == nil || cap(a.buf)-len(a.buf) < n {
		size := envelopeBufSize
		if a.sized {
			size = min(a.want, envelopeBufSize)
		}
		a.buf = make([]byte, 0, max(n, size))
	}
	a.want = max(a.want-n, 0)
	a.buf = append(append(a.buf, prefix...), v...)
	return a.buf[len(a.buf)-n : len(a.buf) : len(a.buf)]
}

// envelopeReaders is how many message files readEnvelopes reads at once.
// Reading and parsing the headers is most of the first SORT, THREAD or
// FETCH ENVELOPE over a large mailbox: a few readers keep both cores busy
// and, for files not in the page cache, several reads waiting on the
// disk at once. The caller's chunk of UIDs bounds what they hold.
const envelopeReaders = 4

// readEnvelopes reads the envelope headers of the messages uids[i], i in
// missing, from their files into out[i], envelopeReaders at a time, the
// file names from one index transaction; it returns the is whose message
// is gone.
func (h *mailboxHandle) readEnvelopes(ctx context.Context, uids []uint32, missing []int, out [][]byte) ([]int, error) {
	return h.readEnvelopesWith(ctx, uids, missing, out, nil)
}

// readEnvelopesWith is readEnvelopes; parsed, when set, is called with
// each header read from a file (i as in out[i]), by the reader that
// parsed it, so that a caller can derive more from it than the envelope
// block without parsing it again.
func (h *mailboxHandle) readEnvelopesWith(ctx context.Context, uids []uint32, missing []int, out [][]byte, parsed func(i int, msg *imapmsg.Message)) ([]int, error) {
	files, err := h.filesOf(len(missing), func(j int) uint32 { return uids[missing[j]] })
	if err != nil {
		return nil, fmt.Errorf("envelope headers of %s: %w", h.name, err)
	}
	errs := make([]error, len(missing))
	read := func(j int) {
		i := missing[j]
		if f := files[j]; f.path != "" {
			fd, fileSize, err := openMessageFile(f.path)
			if err == nil {
				content := newContent(fd, fileSize, f.size)
				var msg *imapmsg.Message
				out[i], msg, err = envelopeOf(content)
				content.Close()
				if err == nil && parsed != nil {
					parsed(i, msg)
				}
				if err != nil {
					errs[j] = fmt.Errorf("envelope of message %d in %s: %w", uids[i], h.name, err)
				}
				return
			}
			if !errors.Is(err, os.ErrNotExist) {
				errs[j] = fmt.Errorf("envelope of message %d in %s: %w", uids[i], h.name, err)
				return
			}
		}
		// Renamed by a flag change since, or not listed: Open looks
		// again.
		out[i], errs[j] = h.readEnvelope(ctx, uids[i])
	}
	if err := inParallel(ctx, len(missing), read); err != nil {
		return nil, err
	}
	var vanished []int
	for j, err := range errs {
		switch {
		case errors.Is(err, mailstore.ErrNoMessage):
			vanished = append(vanished, missing[j])
		case err != nil:
			return nil, err
		}
	}
	return vanished, nil
}

// readEnvelope reads the envelope header of one message from its file.
func (h *mailboxHandle) readEnvelope(ctx context.Context, uid uint32) ([]byte, error) {
	content, err := h.Open(ctx, uid)
	if err != nil {
		return nil, err
	}
	defer content.Close()
	block, _, err := envelopeOf(content)
	if err != nil {
		return nil, fmt.Errorf("envelope of message %d in %s: %w", uid, h.name, err)
	}
	return block, nil
}

// envelopeOf parses a message's envelope header block.
func envelopeOf(content mailstore.Content) ([]byte, *imapmsg.Message, error) {
	msg, err := imapmsg.ParseHeader(content, content.Size())
	if err != nil {
		return nil, nil, err
	}
	block, err := msg.EnvelopeHeader()
	return block, msg, err
}

// inParallel calls fn(j) for j in [0, n) on up to envelopeReaders
// goroutines, until ctx is done.
func inParallel(ctx context.Context, n int, fn func(j int)) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(envelopeReaders, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				j := int(next.Add(1) - 1)
				if j >= n {
					return
				}
				fn(j)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// keepEnvelope stores a message's envelope header block in this
// transaction.
func (m *mboxTx) keepEnvelope(uid uint32, block []byte) error {
	if m.envelopes == nil {
		var err error
		if m.envelopes, err = m.b.CreateBucketIfNotExists(bktEnvelopes); err != nil {
			return err
		}
	}
	v := make([]byte, 0, 1+len(block))
	return m.envelopes.Put(u32(uid), append(append(v, envelopeVersion), block...))
}

// headCapture keeps the first bytes written through it (up to the
// capacity of head), for the envelope of a message being appended.
type headCapture struct {
	head []byte
}

func (c *headCapture) Write(p []byte) (int, error) {
	if n := min(cap(c.head)-len(c.head), len(p)); n > 0 {
		c.head = append(c.head, p[:n]...)
	}
	return len(p), nil
}

// maxCapturedHeader bounds the bytes of an appended message kept for its
// envelope: headers longer than this are read from the file when first
// asked for, as other messages' are.
const maxCapturedHeader = 16 << 10

// envelope returns the envelope header block of a message whose first
// bytes are head, or nil when they do not hold its whole header or the
// file's bytes differ from its content (bare LF line ends, which Content
// turns into CRLF): the envelope is then read from the file when first
// asked for.
func (c *headCapture) envelope(crlf bool) []byte {
	h := c.head
	if !crlf {
		return nil
	}
	if !bytes.Contains(h, []byte("\r\n\r\n")) && !bytes.HasPrefix(h, []byte("\r\n")) {
		return nil
	}
	msg, err := imapmsg.ParseHeader(bytes.NewReader(h), int64(len(h)))
	if err != nil {
		return nil
	}
	block, err := msg.EnvelopeHeader()
	if err != nil {
		return nil
	}
	return block
}

// readEnvelope reads a message's envelope header from its file, as this
// transaction names it.
func (m *mboxTx) readEnvelope(r *msgRec) ([]byte, error) {
	f, fileSize, err := openMessageFile(filepath.Join(m.dir, "cur", r.file))
	if err != nil {
		return nil, err
	}
	content := newContent(f, fileSize, r.size)
	defer content.Close()
	block, _, err := envelopeOf(content)
	return block, err
}

// expungeEnvelopeReads bounds the message files one transaction reads to
// keep the envelopes of the messages it expunges: an EXPUNGE of more
// leaves the rest to what the cache already holds, as Dovecot's does.
const expungeEnvelopeReads = 1000

// keepExpungedEnvelope keeps the envelope header of a message that this
// transaction is about to expunge, read from its file (still in cur/)
// unless it is kept already, so that sessions not yet told of the
// expunge can still FETCH its ENVELOPE and SEARCH its header fields. A
// message that cannot be read is left out: those sessions see it as
// Dovecot shows a message whose cached fields are missing.
func (m *mboxTx) keepExpungedEnvelope(r *msgRec) error {
	if m.envelopes != nil {
		if v := m.envelopes.Get(u32(r.uid)); len(v) > 0 && v[0] == envelopeVersion {
			return nil
		}
	}
	if m.envelopeReads >= expungeEnvelopeReads {
		return nil
	}
	m.envelopeReads++
	block, err := m.readEnvelope(r)
	if err != nil {
		return nil // gone already, or unparsable: nothing to keep
	}
	return m.keepEnvelope(r.uid, block)
}

// keepEnvelopes stores blocks by UID in one transaction, in UID order
// (as KeepSortRecords), skipping messages
// expunged since they were read, so that no entry outlives its message.
// The write is deferred to the user's next commit (cachewrite.go) unless
// too much is waiting already.
func (h *mailboxHandle) keepEnvelopes(blocks map[uint32][]byte) error {
	fn := h.inTx(func(m *mboxTx) error { return m.putEnvelopes(blocks) })
	size := 0
	for _, b := range blocks {
		size += len(b) + 8
	}
	if h.u.deferCacheWrite(fn, size) {
		return nil
	}
	return h.u.update(fn)
}

// putEnvelopes is keepEnvelopes inside a write transaction.
func (m *mboxTx) putEnvelopes(blocks map[uint32][]byte) error {
	env, err := m.b.CreateBucketIfNotExists(bktEnvelopes)
	if err != nil {
		return err
	}
	var a arena
	version := []byte{envelopeVersion}
	return m.putLive(env, blocks, func(block []byte) []byte { return a.add(version, block) })
}
