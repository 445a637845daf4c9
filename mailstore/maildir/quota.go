package maildir

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// Quota usage is not a counter of its own: every mailbox's meta already
// counts its messages and their RFC822.SIZE, kept up to date by every
// append, copy, expunge and rescan (mboxTx.count), so a user's usage is
// the sum of those counters, read from the index in the transaction that
// adds mail. Nothing walks the Maildir per command. What the index may
// lack is a mailbox it has no state for yet (an index rebuilt after loss,
// a folder another program made): quotaReady gives every folder state
// once per opening of the index before usage is trusted.

// keyQuotaLimits, in the user's meta bucket, holds limits set by SETQUOTA
// (two uvarints: storage bytes, messages); absent, the configured limits
// (Options.QuotaLimits) apply.
var keyQuotaLimits = []byte("quota-limits")

var _ mailstore.QuotaUser = (*userHandle)(nil)

// limits returns the quota limits in force for the user.
func (u *userState) limits(tx *bolt.Tx) mailstore.QuotaLimits {
	if v := tx.Bucket(bktMeta).Get(keyQuotaLimits); v != nil {
		d := decoder{b: v}
		l := mailstore.QuotaLimits{Storage: int64(d.uvarint()), Messages: int64(d.uvarint())}
		if d.err == nil {
			return l
		}
	}
	if f := u.s.opts.QuotaLimits; f != nil {
		return f(u.name)
	}
	return mailstore.QuotaLimits{}
}

// usage sums the counters of every mailbox in the index.
func usage(tx *bolt.Tx) (mailstore.QuotaUsage, error) {
	var us mailstore.QuotaUsage
	boxes := tx.Bucket(bktBoxes)
	err := boxes.ForEachBucket(func(k []byte) error {
		meta, err := decodeMeta(boxes.Bucket(k).Get(keyBoxMeta))
		if err != nil {
			return fmt.Errorf("mailbox id %x meta: %w", k, err)
		}
		us.Messages += int64(meta.messages)
		us.Storage += meta.size
		return nil
	})
	return us, err
}

// checkQuota fails with mailstore.ErrOverQuota when adding bytes and msgs
// in tx would take the user past a limit. It must run before tx changes
// any mailbox counter, since it reads them as committed.
func (u *userState) checkQuota(tx *bolt.Tx, bytes, msgs int64) error {
	if bytes <= 0 && msgs <= 0 {
		return nil
	}
	l := u.limits(tx)
	if l.Unlimited() {
		return nil
	}
	us, err := usage(tx)
	if err != nil {
		return err
	}
	if q := (mailstore.Quota{Usage: us, Limits: l}); q.Exceeds(bytes, msgs) {
		return fmt.Errorf("%w: %d messages of %d bytes on %d messages, %d bytes (limits %d messages, %d bytes)",
			mailstore.ErrOverQuota, msgs, bytes, us.Messages, us.Storage, l.Messages, l.Storage)
	}
	return nil
}

// quotaReady gives every mailbox folder index state, once per opening of
// the index, so that usage counts them all; a user without limits
// (limited false) skips it.
func (u *userState) quotaReady(limited bool) error {
	if !limited || u.quotaSynced.Load() {
		return nil
	}
	return u.syncAllForQuota()
}

// syncAllForQuota brings every folder's state up to date (a stat of cur/
// and new/ for those the index knows unchanged).
func (u *userState) syncAllForQuota() error {
	for _, name := range listMailboxDirs(u.maildir) {
		if err := u.ensureSynced(name); err != nil {
			return fmt.Errorf("quota usage of %s: %w", name, err)
		}
	}
	u.quotaSynced.Store(true)
	return nil
}

// Quota returns the user's usage and limits. Unlike the check of each
// append, which trusts the counters once every folder has state, it first
// looks at every folder (two stats each unless watched), so that mail
// other programs put into mailboxes no session holds open counts too: it
// is what GETQUOTA and `dormouse deliver` ask, far less often than mail
// is appended.
func (h *userHandle) Quota(ctx context.Context) (mailstore.Quota, error) {
	u := h.u
	if err := u.syncAllForQuota(); err != nil {
		return mailstore.Quota{}, err
	}
	var q mailstore.Quota
	err := u.view(func(tx *bolt.Tx) error {
		var err error
		q.Limits = u.limits(tx)
		q.Usage, err = usage(tx)
		return err
	})
	if err != nil {
		return mailstore.Quota{}, fmt.Errorf("quota of %s: %w", u.name, err)
	}
	return q, nil
}

// SetQuotaLimits stores limits that replace the configured ones; nil
// removes them.
func (h *userHandle) SetQuotaLimits(ctx context.Context, l *mailstore.QuotaLimits) error {
	err := h.u.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if l == nil {
			return meta.Delete(keyQuotaLimits)
		}
		v := binary.AppendUvarint(nil, uint64(max(l.Storage, 0)))
		v = binary.AppendUvarint(v, uint64(max(l.Messages, 0)))
		return meta.Put(keyQuotaLimits, v)
	})
	if err != nil {
		return fmt.Errorf("set quota of %s: %w", h.u.name, err)
	}
	return nil
}

// DeletedStorage sums the sizes of a mailbox's messages flagged \Deleted.
// It reads every record of the mailbox: STATUS DELETED-STORAGE is rare
// enough not to be worth a counter in every mailbox's meta.
func (h *userHandle) DeletedStorage(ctx context.Context, name string) (int64, error) {
	u := h.u
	name, err := canonicalName(name)
	if err != nil {
		return 0, fmt.Errorf("deleted storage: %w", err)
	}
	if err := u.ensureSynced(name); err != nil {
		return 0, fmt.Errorf("deleted storage of %s: %w", name, err)
	}
	var sum int64
	err = u.view(func(tx *bolt.Tx) error {
		m, err := u.openSelectable(tx, name)
		if err != nil {
			return err
		}
		if m.meta.deleted == 0 {
			return nil
		}
		return m.msgs.ForEach(func(k, v []byte) error {
			r, err := decodeRec(beUint32(k), v, false)
			if err != nil {
				return err
			}
			if r.flags.sys&flagDeleted != 0 {
				sum += r.size
			}
			return ctx.Err()
		})
	})
	if err != nil {
		return 0, fmt.Errorf("deleted storage of %s: %w", name, err)
	}
	return sum, nil
}

// checkCopyQuota checks that copying uids from m (into a mailbox of the
// same user) stays within the quota, before anything is copied.
func (m *mboxTx) checkCopyQuota(uids []uint32) error {
	if m.u.limits(m.tx).Unlimited() {
		return nil
	}
	var bytes, msgs int64
	for _, uid := range uids {
		r, ok, err := m.get(uid, false)
		if err != nil {
			return err
		}
		if ok {
			bytes += r.size
			msgs++
		}
	}
	return m.u.checkQuota(m.tx, bytes, msgs)
}
