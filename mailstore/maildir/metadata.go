package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// METADATA entries (RFC 5464) live in one bucket of the user's index,
// made on first use: key = mailbox id (8 bytes, big-endian; 0 for the
// server) + entry name, value = the entry's value. Keyed by mailbox id,
// an entry follows its mailbox through RENAME (the id stays) and goes
// with it when the mailbox's state is dropped (dropMbox). The user's
// entries are few (Options' limits), so counting them for the limits
// walks the bucket.

// bktMetadata is the top-level bucket of METADATA entries.
var bktMetadata = []byte("metadata")

var _ mailstore.MetadataUser = (*userHandle)(nil)

// serverID is the mailbox id of server entries (mailbox ids start at 1).
const serverID = 0

// metadataKey is the key of entry name on mailbox id.
func metadataKey(id uint64, name string) []byte {
	return append(u64(id), name...)
}

// dropMetadata removes every entry of mailbox id.
func dropMetadata(tx *bolt.Tx, id uint64) error {
	b := tx.Bucket(bktMetadata)
	if b == nil {
		return nil
	}
	prefix := u64(id)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// metadataMailbox returns the id and state of mailbox ("" = the server:
// id 0, nil state). In a read transaction a mailbox the index has no
// state for yet has id 0 and nil state: it has no entries.
func (u *userState) metadataMailbox(tx *bolt.Tx, mailbox string) (uint64, *mboxTx, error) {
	if mailbox == "" {
		return serverID, nil, nil
	}
	m, err := u.openMbox(tx, mailbox)
	if errors.Is(err, errNoState) {
		return serverID, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return m.id, m, nil
}

// GetMetadata returns entries of mailbox ("" for the server).
func (h *userHandle) GetMetadata(ctx context.Context, mailbox string, names []string, depth int) ([]mailstore.MetadataEntry, error) {
	u := h.u
	if mailbox != "" {
		var err error
		if mailbox, err = canonicalName(mailbox); err != nil {
			return nil, fmt.Errorf("get metadata: %w", err)
		}
	}
	found := map[string][]byte{}
	err := u.view(func(tx *bolt.Tx) error {
		id, m, err := u.metadataMailbox(tx, mailbox)
		if err != nil {
			return err
		}
		if mailbox != "" {
			su := defaultSpecialUse(mailbox)
			if m != nil {
				su = m.meta.specialUse
			}
			if su != "" {
				for _, n := range names {
					if underDepth(mailstore.MetadataSpecialUse, n, depth) {
						found[mailstore.MetadataSpecialUse] = []byte(su)
					}
				}
			}
			if m == nil {
				return nil
			}
		}
		b := tx.Bucket(bktMetadata)
		if b == nil {
			return nil
		}
		for _, n := range names {
			if v := b.Get(metadataKey(id, n)); v != nil {
				found[n] = bytes.Clone(v)
			}
			if depth == 0 {
				continue
			}
			prefix := metadataKey(id, strings.TrimSuffix(n, "/")+"/")
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if name := string(k[8:]); underDepth(name, n, depth) {
					found[name] = bytes.Clone(v)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get metadata of %q: %w", mailbox, err)
	}
	out := make([]mailstore.MetadataEntry, 0, len(found))
	for n, v := range found {
		out = append(out, mailstore.MetadataEntry{Name: n, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// underDepth reports whether entry is asked for by name with depth
// (RFC 5464 4.2.2): the entry itself, with depth 1 its children, with
// infinity every descendant.
func underDepth(entry, name string, depth int) bool {
	if entry == name {
		return true
	}
	rest, ok := strings.CutPrefix(entry, strings.TrimSuffix(name, "/")+"/")
	if !ok || depth == 0 {
		return false
	}
	return depth == mailstore.DepthInfinity || !strings.Contains(rest, "/")
}

// SetMetadata sets and removes entries of mailbox ("" for the server),
// all or none.
func (h *userHandle) SetMetadata(ctx context.Context, mailbox string, entries []mailstore.MetadataEntry, limits mailstore.MetadataLimits) error {
	u := h.u
	if mailbox != "" {
		var err error
		if mailbox, err = canonicalName(mailbox); err != nil {
			return fmt.Errorf("set metadata: %w", err)
		}
	}
	err := u.update(func(tx *bolt.Tx) error {
		id, m, err := u.metadataMailbox(tx, mailbox)
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bktMetadata)
		if err != nil {
			return err
		}
		var largest int64
		for _, e := range entries {
			if m != nil && e.Name == mailstore.MetadataSpecialUse {
				if err := m.setSpecialUse(e.Value); err != nil {
					return err
				}
				continue
			}
			if e.Value == nil {
				if err := b.Delete(metadataKey(id, e.Name)); err != nil {
					return err
				}
				continue
			}
			if limits.MaxEntrySize > 0 && int64(len(e.Value)) > limits.MaxEntrySize {
				return &mailstore.MetadataTooBigError{Max: limits.MaxEntrySize}
			}
			largest = max(largest, int64(len(e.Value)))
			if err := b.Put(metadataKey(id, e.Name), e.Value); err != nil {
				return err
			}
		}
		if m != nil {
			if err := m.save(); err != nil {
				return err
			}
		}
		return checkMetadataLimits(b, limits, largest)
	})
	if err != nil {
		return fmt.Errorf("set metadata of %q: %w", mailbox, err)
	}
	// NOTIFY's MailboxMetadataChange and ServerMetadataChange (RFC 5465
	// 5.6, 5.7) name the entries, not their values.
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	u.s.publish([]mailstore.Event{{Kind: mailstore.MetadataChanged, User: u.name, Mailbox: mailbox, Entries: names}})
	return nil
}

// checkMetadataLimits counts the user's entries and their sizes after a
// change whose largest new value was largest bytes.
func checkMetadataLimits(b *bolt.Bucket, limits mailstore.MetadataLimits, largest int64) error {
	if limits.MaxEntries <= 0 && limits.MaxTotalSize <= 0 {
		return nil
	}
	var n int
	var total int64
	err := b.ForEach(func(_, v []byte) error {
		n++
		total += int64(len(v))
		return nil
	})
	if err != nil {
		return err
	}
	if limits.MaxEntries > 0 && n > limits.MaxEntries {
		return mailstore.ErrMetadataTooMany
	}
	if limits.MaxTotalSize > 0 && total > limits.MaxTotalSize {
		// What the largest value could have been with the rest kept.
		return &mailstore.MetadataTooBigError{Max: max(0, limits.MaxTotalSize-(total-largest))}
	}
	return nil
}

// setSpecialUse sets the mailbox's special-use attribute from a
// /private/specialuse value: one attribute the store knows, or nil (or
// empty) for none.
func (m *mboxTx) setSpecialUse(v []byte) error {
	s := strings.TrimSpace(string(v))
	if s == "" {
		m.meta.specialUse = ""
		return nil
	}
	for _, su := range specialUses {
		if strings.EqualFold(su, s) {
			m.meta.specialUse = su
			return nil
		}
	}
	return fmt.Errorf("%q: %w", s, mailstore.ErrBadSpecialUse)
}
