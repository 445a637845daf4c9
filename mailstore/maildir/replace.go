package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

var _ mailstore.Replacer = (*mailboxHandle)(nil)

// Replace stores a new message in dest and expunges uid here in one
// write transaction (RFC 8508 REPLACE): a reader sees both changes or
// neither, and a failure leaves the old message where it was. The new
// file is written to dest's tmp/ and fsynced first, as AppendMany does.
// The quota is checked for the difference the replacement makes, the
// old message's size and count taken off, as both are the user's. It
// returns dest's UIDVALIDITY and the new message's UID.
func (h *mailboxHandle) Replace(ctx context.Context, uid uint32, dest string, req mailstore.AppendRequest) (uidValidity, newUID uint32, err error) {
	u := h.u
	if dest, err = canonicalName(dest); err != nil {
		return 0, 0, fmt.Errorf("replace into: %w", err)
	}
	dir := filepath.Join(u.maildir, dirName(dest))
	if !isMaildir(dir) {
		return 0, 0, fmt.Errorf("replace into %s: %w", dest, mailstore.ErrNoMailbox)
	}
	var limited bool
	if err := u.view(func(tx *bolt.Tx) error { limited = !u.limits(tx).Unlimited(); return nil }); err != nil {
		return 0, 0, fmt.Errorf("replace into %s: %w", dest, err)
	}
	if err := u.quotaReady(limited); err != nil {
		return 0, 0, fmt.Errorf("replace into %s: %w", dest, err)
	}
	st, err := h.stage(ctx, dir, req)
	if err != nil {
		return 0, 0, fmt.Errorf("replace into %s: %w", dest, err)
	}
	defer func() {
		st.wait()
		os.Remove(st.tmp) // gone already when renamed
	}()
	var moved string
	var srcEvs, dstEvs []mailstore.Event
	err = u.update(func(tx *bolt.Tx) error {
		moved, srcEvs, dstEvs = "", nil, nil
		src, err := h.load(tx)
		if err != nil {
			return err
		}
		old, ok, err := src.get(uid, true)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("uid %d: %w", uid, mailstore.ErrNoMessage)
		}
		dst, err := u.destMbox(tx, src, dest)
		if err != nil {
			return err
		}
		if err := u.checkQuota(tx, st.size-old.size, 0); err != nil {
			return err
		}
		name := fileName(st.base, dst.dovecotInfo("", st.flags.keywords), st.flags.sys)
		r := st.record(name)
		if err := dst.insert(&r); err != nil {
			return err
		}
		uidValidity, newUID = dst.meta.uidValidity, r.uid
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := st.wait(); err != nil {
			return mapFSError(err)
		}
		cur := filepath.Join(dst.dir, "cur")
		if err := os.Rename(st.tmp, filepath.Join(cur, name)); err != nil {
			return mapFSError(err)
		}
		moved = filepath.Join(cur, name)
		if !u.s.opts.NoSync {
			if err := syncDir(cur); err != nil {
				return mapFSError(err)
			}
		}
		// The old message goes only once the new one is durable, inside
		// the transaction so the watcher does not take it for an outside
		// expunge.
		if err := src.keepExpungedEnvelope(&old); err != nil {
			return err
		}
		if err := src.remove(&old, src.nextModSeq()); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(src.dir, "cur", old.file)); err != nil && !errors.Is(err, os.ErrNotExist) {
			u.s.log.Warn("remove replaced file", "user", u.name, "mailbox", h.name, "err", err)
		}
		if err := dst.save(); err != nil {
			return err
		}
		if dst != src {
			if err := src.save(); err != nil {
				return err
			}
		}
		srcCS := changeSet{expunged: []uint32{uid}}
		dstCS := changeSet{added: []uint32{r.uid}}
		if dst == src {
			srcCS.added = dstCS.added
		} else {
			dstEvs = dstCS.events(u.name, dst)
		}
		srcEvs = srcCS.events(u.name, src)
		return nil
	})
	if err != nil {
		if moved != "" {
			os.Remove(moved) // nothing was committed
		}
		return 0, 0, fmt.Errorf("replace %s uid %d into %s: %w", h.name, uid, dest, err)
	}
	u.s.publish(srcEvs)
	u.s.publish(dstEvs)
	return uidValidity, newUID, nil
}
