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

// staged is a message written to tmp/, waiting for its UID. Its fsync
// runs in the background from the moment it is written (synced); wait
// returns its result.
type staged struct {
	tmp   string // path in tmp/
	base  string // final base name, with ,S= and ,W=
	size  int64  // RFC822.SIZE
	flags flagSet
	date  time.Time
	// envelope is the message's envelope header block, kept in the
	// index with its UID so that neither the first FETCH ENVELOPE or
	// SEARCH of a header field nor its EXPUNGE reads the file again (and
	// no read commits it later); nil when it is read then after all
	// (headCapture.envelope).
	envelope []byte
	// f is the open file while its fsync runs, with the fsync's result
	// to come on synced; nil once waited for (or with Options.NoSync).
	f      *os.File
	synced chan error
}

// record is the index record of the staged message, to be stored as
// name in cur/.
func (st *staged) record(name string) msgRec {
	return msgRec{
		internal: st.date.UnixNano(),
		save:     time.Now().UnixNano(),
		size:     st.size,
		flags:    flagSet{sys: st.flags.sys, keywords: append([]string(nil), st.flags.keywords...)},
		file:     name,
	}
}

// wait waits for the file's fsync and closes it; the error is the
// fsync's or the close's. Calling it again returns nil.
func (st *staged) wait() error {
	if st.f == nil {
		return nil
	}
	err := <-st.synced
	if cerr := st.f.Close(); err == nil {
		err = cerr
	}
	st.f = nil
	return err
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

// stage writes one message into dir/tmp and starts its fsync, which the
// caller waits for (staged.wait) before the file goes into cur/. On error
// nothing is left behind.
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
	// The copy buffer and the header's capture come from the pool of
	// copy buffers: neither outlives the stage (envelope copies out).
	bp, hp := s.bufs.Get().(*[]byte), s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	defer s.bufs.Put(hp)
	buf := *bp
	head := &headCapture{head: (*hp)[:0:maxCapturedHeader]}
	cw := &crlfCounter{w: io.MultiWriter(f, head), limit: s.opts.MaxMessageSize}
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
	// The file's mtime is the INTERNALDATE, so a rebuilt index keeps it.
	// Without a date (LMTP, most APPENDs) the mtime the write gave it is
	// taken as is: a stat, where setting it would write the inode again.
	st.date = req.Date
	if st.date.IsZero() {
		fi, err := f.Stat()
		if err != nil {
			return st, err
		}
		st.date = fi.ModTime()
	} else if err := os.Chtimes(st.tmp, st.date, st.date); err != nil {
		return st, err
	}
	if s.opts.NoSync {
		if err := f.Close(); err != nil {
			return st, mapFSError(err)
		}
	} else {
		synced := make(chan error, 1)
		go func() { synced <- f.Sync() }()
		st.f, st.synced = f, synced
	}
	st.base = fmt.Sprintf("%s,S=%d,W=%d", filepath.Base(st.tmp), cw.raw, cw.crlf)
	st.size = cw.crlf
	st.envelope = head.envelope(cw.raw == cw.crlf)
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

// AppendMany stores messages all or none. Each file is written in tmp/
// first (outside the index lock) and its fsync started; then one write
// transaction gives them UIDs, announces them (announce, see
// below), waits for each file's fsync, renames the files into cur/,
// and commits their UIDs and the new UIDNEXT together while cur/ is
// fsynced beside the commit. Only once both are done does it return (and
// end its early announcement, which readers of the index wait for).
//
// A power loss before it returns may keep the commit and lose the
// rename (or keep the rename and lose the commit, as before): the
// message was not acknowledged; its UID is then recorded with no file,
// which the next rescan expunges, and never given out again, and the
// file is left in tmp/ for the hourly tidy.
//
// The announcement comes before the fsyncs of the files and of cur/,
// not only before the index commit, and that is as sound as announcing
// before the commit (syncMailbox, userState.view):
//   - What the announcement tells is a message count (EXISTS, RECENT) to
//     hibernated clients. Every read of the user's index after it waits
//     until the transaction has committed or failed, and the commit
//     comes after the file and cur/ are fsynced, so no client reads a
//     UID, a flag or a byte of the message before all of it lasts; the
//     APPEND's OK and the LMTP 250 still come after the commit.
//   - On disk a file is fsynced before it is renamed into cur/. A
//     process crash before the commit leaves at most a whole message in
//     cur/ without a UID (the rescan gives it one); a power loss may also
//     leave a committed UID without its file (above). The clients that
//     were told lose their connection with the process, resynchronize,
//     and never held a UID that could change meaning.
//   - A failed fsync or rename fails the transaction like a failed
//     commit: the UIDs and MODSEQs announced are never given out again
//     (endAnnouncement), the files are taken back out of cur/, and the
//     caller gets an error (451 for LMTP), so the MTA retries.
//
// The files' fsyncs still run outside the index lock until the
// transaction needs them, and in parallel with its index work.
func (h *mailboxHandle) AppendMany(ctx context.Context, msgs []mailstore.AppendRequest) (uids []uint32, err error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	var dir string
	var limited bool
	err = h.view(func(m *mboxTx) error {
		dir, limited = m.dir, !h.u.limits(m.tx).Unlimited()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append %s: %w", h.name, err)
	}
	if err := h.u.quotaReady(limited); err != nil {
		return nil, fmt.Errorf("append %s: %w", h.name, err)
	}
	sts := make([]staged, 0, len(msgs))
	defer func() {
		for i := range sts {
			sts[i].wait()
			os.Remove(sts[i].tmp) // gone already when renamed
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
	var curSynced chan error
	// Under delayed flag sync the UIDs commit without the index's
	// fdatasyncs, like flag changes (flagsync.go): the message itself is
	// durable before the OK all the same (its file and cur/ fsynced), and
	// a power loss within the delay rebuilds the index from the Maildir,
	// which holds it.
	commit := h.u.update
	if h.u.s.opts.FlagSyncDelay > 0 {
		commit = h.u.updateDelayed
	}
	err = commit(h.inTx(func(m *mboxTx) error {
		uids, moved = nil, nil
		since := m.meta.highestModSeq
		cur := filepath.Join(m.dir, "cur")
		var cs changeSet
		var bytes int64
		for _, st := range sts {
			bytes += st.size
		}
		if err := h.u.checkQuota(m.tx, bytes, int64(len(sts))); err != nil {
			return err
		}
		names := make([]string, len(sts))
		for i, st := range sts {
			name := fileName(st.base, m.dovecotInfo("", st.flags.keywords), st.flags.sys)
			names[i] = name
			r := st.record(name)
			if err := m.insert(&r); err != nil {
				return err
			}
			if st.envelope != nil {
				if err := m.keepEnvelope(r.uid, st.envelope); err != nil {
					return err
				}
			}
			uids = append(uids, r.uid)
			cs.added = append(cs.added, r.uid)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		evs = cs.events(h.u.name, m)
		// Hibernated clients need wait neither for the files' and cur/'s
		// fsyncs nor for the commit (see above). (h.update saves m.)
		ann = h.u.announce(&cs, m, since)
		for i := range sts {
			if err := sts[i].wait(); err != nil {
				return mapFSError(err)
			}
			dst := filepath.Join(cur, names[i])
			if err := os.Rename(sts[i].tmp, dst); err != nil {
				return mapFSError(err)
			}
			moved = append(moved, dst)
		}
		if !h.u.s.opts.NoSync {
			// cur/ is fsynced while the index commits (see above).
			curSynced = make(chan error, 1)
			go func() {
				err := syncDir(cur)
				if err == nil && h.u.s.opts.dirSynced != nil {
					h.u.s.opts.dirSynced(cur)
				}
				curSynced <- err
			}()
		}
		return nil
	}))
	if curSynced != nil {
		if serr := <-curSynced; serr != nil && err == nil {
			// Committed, so the files stay: the index has them. But
			// they may not last, so the APPEND is not acknowledged.
			h.u.endAnnouncement(ann, nil)
			h.u.s.publish(evs)
			return nil, fmt.Errorf("append %s: %w", h.name, mapFSError(serr))
		}
	}
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
