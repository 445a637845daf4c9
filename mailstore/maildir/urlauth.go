package maildir

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/dormouse/dormouse/mailstore"
)

// URLAUTH mailbox access keys (RFC 4467 7) live in one bucket of the
// user's index, made on first use: key = mailbox id, value = the 32-byte
// secret. Keyed by mailbox id, a key follows its mailbox through RENAME
// and is dropped with the mailbox's state (dropMbox).

// bktURLAuth is the top-level bucket of access keys.
var bktURLAuth = []byte("urlauth")

// accessKeySize is the size of an access key: that of HMAC-SHA256's
// output, the mechanism INTERNAL uses (imapserver/urlauth.go).
const accessKeySize = 32

var _ mailstore.URLAuthUser = (*userHandle)(nil)

// AccessKey returns the access key of mailbox, made when create is set
// and there is none.
func (h *userHandle) AccessKey(ctx context.Context, mailbox string, create bool) ([]byte, error) {
	u := h.u
	name, err := canonicalName(mailbox)
	if err != nil {
		return nil, fmt.Errorf("access key: %w", err)
	}
	var key []byte
	read := func(tx *bolt.Tx) (uint64, error) {
		m, err := u.openMbox(tx, name)
		if err != nil {
			return 0, err
		}
		if b := tx.Bucket(bktURLAuth); b != nil {
			key = bytes.Clone(b.Get(u64(m.id)))
		}
		return m.id, nil
	}
	if !create {
		err = u.view(func(tx *bolt.Tx) error {
			_, err := read(tx)
			if errors.Is(err, errNoState) {
				return nil // a mailbox the index has not seen has no key
			}
			return err
		})
	} else {
		err = u.update(func(tx *bolt.Tx) error {
			id, err := read(tx)
			if err != nil || key != nil {
				return err
			}
			k := make([]byte, accessKeySize)
			if _, err := rand.Read(k); err != nil {
				return err
			}
			b, err := tx.CreateBucketIfNotExists(bktURLAuth)
			if err != nil {
				return err
			}
			if err := b.Put(u64(id), k); err != nil {
				return err
			}
			key = k
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("access key of %q: %w", name, err)
	}
	return key, nil
}

// ResetAccessKeys drops the access key of mailbox, or all of them.
func (h *userHandle) ResetAccessKeys(ctx context.Context, mailbox string) error {
	u := h.u
	name := ""
	if mailbox != "" {
		var err error
		if name, err = canonicalName(mailbox); err != nil {
			return fmt.Errorf("reset access keys: %w", err)
		}
	}
	err := u.update(func(tx *bolt.Tx) error {
		if name == "" {
			err := tx.DeleteBucket(bktURLAuth)
			if errors.Is(err, bolterrors.ErrBucketNotFound) {
				return nil
			}
			return err
		}
		m, err := u.openMbox(tx, name)
		if err != nil {
			return err
		}
		return dropAccessKey(tx, m.id)
	})
	if err != nil {
		return fmt.Errorf("reset access keys of %q: %w", mailbox, err)
	}
	return nil
}

// dropAccessKey removes the access key of mailbox id.
func dropAccessKey(tx *bolt.Tx, id uint64) error {
	b := tx.Bucket(bktURLAuth)
	if b == nil {
		return nil
	}
	return b.Delete(u64(id))
}
