package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// Copy copies messages into dest, keeping flags and INTERNALDATE; files
// are hard-linked when the file system allows it.
func (h *mailboxHandle) Copy(ctx context.Context, uids []uint32, dest string) (mailstore.CopyResult, error) {
	return h.copyOrMove(ctx, uids, dest, false)
}

// Move copies messages into dest and expunges them here, in one
// transaction (RFC 6851: no moment where both or neither mailbox has them).
func (h *mailboxHandle) Move(ctx context.Context, uids []uint32, dest string) (mailstore.CopyResult, error) {
	return h.copyOrMove(ctx, uids, dest, true)
}

// moveAll moves every message to dest (for renaming INBOX).
func (h *mailboxHandle) moveAll(ctx context.Context, dest string) (mailstore.CopyResult, error) {
	var uids []uint32
	err := h.view(func(m *mboxTx) error {
		return m.msgs.ForEach(func(k, _ []byte) error {
			uids = append(uids, beUint32(k))
			return nil
		})
	})
	if err != nil {
		return mailstore.CopyResult{}, err
	}
	return h.copyOrMove(ctx, uids, dest, true)
}

func (h *mailboxHandle) copyOrMove(ctx context.Context, uids []uint32, dest string, move bool) (res mailstore.CopyResult, err error) {
	verb := "copy"
	if move {
		verb = "move"
	}
	dest, err = canonicalName(dest)
	if err != nil {
		return res, fmt.Errorf("%s to: %w", verb, err)
	}
	u := h.u
	if !move {
		var limited bool
		if err := u.view(func(tx *bolt.Tx) error { limited = !u.limits(tx).Unlimited(); return nil }); err != nil {
			return res, fmt.Errorf("%s %s to %s: %w", verb, h.name, dest, err)
		}
		if err := u.quotaReady(limited); err != nil {
			return res, fmt.Errorf("%s %s to %s: %w", verb, h.name, dest, err)
		}
	}
	var created []string // files made in dest, removed again on failure
	var srcEvs, dstEvs []mailstore.Event
	err = u.update(func(tx *bolt.Tx) error {
		res, created, srcEvs, dstEvs = mailstore.CopyResult{}, nil, nil, nil
		src, err := h.load(tx)
		if err != nil {
			return err
		}
		dst, err := u.destMbox(tx, src, dest)
		if err != nil {
			return err
		}
		res.UIDValidity = dst.meta.uidValidity
		if !move {
			// A move within the user adds nothing to its usage.
			if err := src.checkCopyQuota(uids); err != nil {
				return err
			}
		}
		var srcCS, dstCS changeSet
		var toRemove []msgRec
		srcCur, dstCur := filepath.Join(src.dir, "cur"), filepath.Join(dst.dir, "cur")
		now := time.Now().UnixNano()
		for _, uid := range uids {
			r, ok, err := src.get(uid, true)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			base, info := splitInfo(r.file)
			newBase := u.s.uniqueBase()
			if s, w, ok := sizesFromBase(base); ok {
				newBase = fmt.Sprintf("%s,S=%d,W=%d", newBase, s, w)
			}
			name := fileName(newBase, dst.dovecotInfo(info, r.flags.keywords), r.flags.sys)
			if err := linkOrCopy(filepath.Join(srcCur, r.file), filepath.Join(dstCur, name), filepath.Join(dst.dir, "tmp"), u.s.opts.NoSync); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // gone on disk; the watcher expunges it
				}
				return fmt.Errorf("%s message %d: %w", verb, uid, mapFSError(err))
			}
			created = append(created, filepath.Join(dstCur, name))
			nr := msgRec{internal: r.internal, save: now, size: r.size, file: name,
				emailID: src.emailIDOf(&r), // RFC 8474 5.1
				flags:   flagSet{sys: r.flags.sys, keywords: append([]string(nil), r.flags.keywords...)}}
			if err := dst.insert(&nr); err != nil {
				return err
			}
			res.SourceUIDs = append(res.SourceUIDs, uid)
			res.DestUIDs = append(res.DestUIDs, nr.uid)
			dstCS.added = append(dstCS.added, nr.uid)
			if move {
				toRemove = append(toRemove, r)
			}
		}
		if len(created) > 0 && !u.s.opts.NoSync {
			if err := syncDir(dstCur); err != nil {
				return mapFSError(err)
			}
		}
		if len(toRemove) > 0 {
			ms := src.nextModSeq()
			for i := range toRemove {
				if err := src.keepExpungedEnvelope(&toRemove[i]); err != nil {
					return err
				}
				if err := src.remove(&toRemove[i], ms); err != nil {
					return err
				}
				srcCS.expunged = append(srcCS.expunged, toRemove[i].uid)
			}
		}
		if err := dst.save(); err != nil {
			return err
		}
		if dst != src {
			if err := src.save(); err != nil {
				return err
			}
		}
		// Source files go only once the copies are durable; inside the
		// transaction so the watcher does not take them for outside
		// expunges. A crash before the commit leaves both: the rescan then
		// gives the copies new UIDs, and no mail is lost.
		for i := range toRemove {
			_ = os.Remove(filepath.Join(srcCur, toRemove[i].file))
		}
		sortExpunged(srcCS.expunged)
		srcEvs = srcCS.events(u.name, src)
		dstEvs = dstCS.events(u.name, dst)
		return nil
	})
	if err != nil {
		for _, p := range created {
			os.Remove(p)
		}
		return mailstore.CopyResult{}, fmt.Errorf("%s %s to %s: %w", verb, h.name, dest, err)
	}
	u.s.publish(srcEvs)
	u.s.publish(dstEvs)
	return res, nil
}

// destMbox opens the mailbox dest that messages of src go to (src itself
// when dest names it); a \Noselect one is no mailbox to put them in.
func (u *userState) destMbox(tx *bolt.Tx, src *mboxTx, dest string) (*mboxTx, error) {
	if id, ok := mailboxID(tx, dest); ok && id == src.id {
		return src, nil
	}
	dst, err := u.openMbox(tx, dest)
	if err != nil {
		return nil, err
	}
	if dst.meta.noSelect {
		return nil, fmt.Errorf("%s: \\Noselect: %w", dest, mailstore.ErrNoMailbox)
	}
	return dst, nil
}

func sortExpunged(u []uint32) {
	for i := 1; i < len(u); i++ {
		for j := i; j > 0 && u[j] < u[j-1]; j-- {
			u[j], u[j-1] = u[j-1], u[j]
		}
	}
}

// linkOrCopy hard-links src to dst, or copies it through tmpDir (fsynced)
// when linking is not possible (another file system).
func linkOrCopy(src, dst, tmpDir string, noSync bool) error {
	err := os.Link(src, dst)
	if err == nil || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrExist) {
		return err
	}
	// EXDEV (another file system), EPERM (no hard links), EMLINK: copy.
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := filepath.Join(tmpDir, filepath.Base(dst))
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil && !noSync {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if fi, serr := in.Stat(); serr == nil {
			_ = os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
		}
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
