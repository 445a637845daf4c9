package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// uniqueBase returns a new Maildir base name "<sec>.M<usec>P<pid>Q<n>.<host>"
// (the modern form of the Maildir spec's unique names). The microseconds
// are zero-padded so that names sort in delivery order, which is the order
// a rebuilt index gives out UIDs in.
func (s *Store) uniqueBase() string {
	now := time.Now()
	return fmt.Sprintf("%d.M%06dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), s.seq.Add(1), s.host)
}

// staged is a message written to tmp/ and fsynced, waiting for its UID.
type staged struct {
	tmp   string // path in tmp/
	base  string // final base name, with ,S= and ,W=
	size  int64  // RFC822.SIZE
	flags flagSet
	date  time.Time
}

// crlfCounter counts bytes as written and as they would be with CRLF line
// ends, across Write calls.
type crlfCounter struct {
	w         io.Writer
	raw, crlf int64
	prevCR    bool
	limit     int64 // 0: none
	limitHit  bool
}

func (c *crlfCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' && !c.prevCR {
			c.crlf++
		}
		c.prevCR = b == '\r'
	}
	c.raw += int64(len(p))
	c.crlf += int64(len(p))
	if c.limit > 0 && c.crlf > c.limit {
		c.limitHit = true
		return 0, mailstore.ErrTooBig
	}
	return c.w.Write(p)
}

// stage writes one message into dir/tmp and fsyncs it. On error nothing is
// left behind.
func (h *mailboxHandle) stage(ctx context.Context, dir string, req mailstore.AppendRequest) (st staged, err error) {
	s := h.u.s
	st.tmp = filepath.Join(dir, "tmp", s.uniqueBase())
	f, err := os.OpenFile(st.tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return st, mapFSError(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(st.tmp)
		}
	}()
	cw := &crlfCounter{w: f, limit: s.opts.MaxMessageSize}
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	if req.Body == nil {
		return st, errors.New("no message body")
	}
	if _, err := io.CopyBuffer(cw, req.Body, buf); err != nil {
		if cw.limitHit {
			return st, mailstore.ErrTooBig
		}
		return st, mapFSError(err)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	st.date = req.Date
	if st.date.IsZero() {
		st.date = time.Now()
	}
	// The file's mtime is the INTERNALDATE, so a rebuilt index keeps it.
	if err := os.Chtimes(st.tmp, st.date, st.date); err != nil {
		return st, err
	}
	if !s.opts.NoSync {
		if err := f.Sync(); err != nil {
			return st, mapFSError(err)
		}
	}
	if err := f.Close(); err != nil {
		return st, mapFSError(err)
	}
	st.base = fmt.Sprintf("%s,S=%d,W=%d", filepath.Base(st.tmp), cw.raw, cw.crlf)
	st.size = cw.crlf
	st.flags = parseFlags(req.Flags)
	return st, nil
}

// Append stores one message; see AppendMany.
func (h *mailboxHandle) Append(ctx context.Context, r io.Reader, flags []string, date time.Time) (uint32, error) {
	uids, err := h.AppendMany(ctx, []mailstore.AppendRequest{{Body: r, Flags: flags, Date: date}})
	if err != nil {
		return 0, err
	}
	return uids[0], nil
}

// AppendMany stores messages all or none. Each file is written and fsynced
// in tmp/ first (outside the index lock); then one write transaction
// renames them into cur/, fsyncs cur/ and commits their UIDs and the new
// UIDNEXT together. Only then does it return. The new messages are
// announced before the commit, as an early event (syncMailbox).
func (h *mailboxHandle) AppendMany(ctx context.Context, msgs []mailstore.AppendRequest) (uids []uint32, err error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var dir string
	if err := h.view(func(m *mboxTx) error { dir = m.dir; return nil }); err != nil {
		return nil, fmt.Errorf("append %s: %w", h.name, err)
	}
	sts := make([]staged, 0, len(msgs))
	defer func() {
		for _, st := range sts {
			os.Remove(st.tmp) // gone already when renamed
		}
	}()
	for _, req := range msgs {
		st, err := h.stage(ctx, dir, req)
		if err != nil {
			return nil, fmt.Errorf("append %s: %w", h.name, err)
		}
		sts = append(sts, st)
	}
	var moved []string
	var evs []mailstore.Event
	var ann *announcement
	err = h.update(func(m *mboxTx) error {
		uids, moved = nil, nil
		since := m.meta.highestModSeq
		cur := filepath.Join(m.dir, "cur")
		var cs changeSet
		for _, st := range sts {
			name := fileName(st.base, "", st.flags.sys)
			dst := filepath.Join(cur, name)
			if err := os.Rename(st.tmp, dst); err != nil {
				return mapFSError(err)
			}
			moved = append(moved, dst)
			r := msgRec{
				internal: st.date.UnixNano(),
				save:     time.Now().UnixNano(),
				size:     st.size,
				flags:    flagSet{sys: st.flags.sys, keywords: append([]string(nil), st.flags.keywords...)},
				file:     name,
			}
			if err := m.insert(&r); err != nil {
				return err
			}
			uids = append(uids, r.uid)
			cs.added = append(cs.added, r.uid)
		}
		if !h.u.s.opts.NoSync {
			if err := syncDir(cur); err != nil {
				return mapFSError(err)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		evs = cs.events(h.u.name, m)
		// The files and cur/ are fsynced: only the index commit is left,
		// which hibernated clients need not wait for. (h.update saves m.)
		ann = h.u.announce(&cs, m, since)
		return nil
	})
	h.u.endAnnouncement(ann, err)
	if err != nil {
		// Nothing was committed: take the files back out of cur/ so that
		// a rescan does not give them UIDs.
		for _, p := range moved {
			os.Remove(p)
		}
		return nil, fmt.Errorf("append %s: %w", h.name, err)
	}
	h.u.s.publish(evs)
	return uids, nil
}
