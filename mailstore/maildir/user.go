package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// userHandle is one holder of a user's open index.
type userHandle struct {
	u    *userState
	once sync.Once
}

var _ mailstore.User = (*userHandle)(nil)

// Name returns the user name.
func (h *userHandle) Name() string { return h.u.name }

// Close releases the handle; the index closes with the last handle.
func (h *userHandle) Close() error {
	h.once.Do(func() { h.u.s.release(h.u) })
	return nil
}

// specialUses are the RFC 6154 attributes CreateMailbox accepts.
var specialUses = []string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`}

// Mailboxes lists every mailbox, INBOX first, then by name. Parents that
// exist only because another tool made a child folder show as NoSelect.
func (h *userHandle) Mailboxes(ctx context.Context) ([]mailstore.MailboxInfo, error) {
	u := h.u
	names := listMailboxDirs(u.maildir)
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, n := range names {
		for _, p := range parentNames(n) {
			if !have[p] {
				have[p] = true
				names = append(names, p)
			}
		}
	}
	out := make([]mailstore.MailboxInfo, 0, len(names))
	err := u.view(func(tx *bolt.Tx) error {
		subs := tx.Bucket(bktSubs)
		for _, n := range names {
			info := mailstore.MailboxInfo{Name: n, Subscribed: subs.Get([]byte(n)) != nil}
			if id, ok := mailboxID(tx, n); ok {
				if m, err := u.loadMbox(tx, id); err == nil {
					info.SpecialUse = m.meta.specialUse
					info.NoSelect = m.meta.noSelect
				}
			} else {
				info.SpecialUse = defaultSpecialUse(n)
				info.NoSelect = n != "INBOX" && !isMaildir(filepath.Join(u.maildir, dirName(n)))
			}
			out = append(out, info)
		}
		return subs.ForEach(func(k, _ []byte) error {
			if n := string(k); !have[n] {
				out = append(out, mailstore.MailboxInfo{Name: n, Subscribed: true, NoSelect: true, NonExistent: true})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list mailboxes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == "INBOX") != (out[j].Name == "INBOX") {
			return out[i].Name == "INBOX"
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// CreateMailbox creates a mailbox and its missing parents. Creating a name
// that exists as \Noselect makes it selectable again.
func (h *userHandle) CreateMailbox(ctx context.Context, name, specialUse string) error {
	u := h.u
	name, err := canonicalName(name)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	defer u.s.w.ownChange(u.name, name)()
	if name == "INBOX" {
		return fmt.Errorf("create %s: %w", name, mailstore.ErrMailboxExists)
	}
	if specialUse != "" {
		ok := false
		for _, s := range specialUses {
			if strings.EqualFold(s, specialUse) {
				specialUse, ok = s, true
			}
		}
		if !ok {
			return fmt.Errorf("create %s: special-use %q: %w", name, specialUse, mailstore.ErrNotAllowed)
		}
	}
	var created []string
	err = u.update(func(tx *bolt.Tx) error {
		created = nil
		for _, n := range append(parentNames(name), name) {
			dir := filepath.Join(u.maildir, dirName(n))
			if isMaildir(dir) {
				if n != name {
					continue
				}
				m, err := u.openMbox(tx, n)
				if err != nil {
					return err
				}
				if !m.meta.noSelect {
					return fmt.Errorf("create %s: %w", name, mailstore.ErrMailboxExists)
				}
				m.meta.noSelect = false
				if specialUse != "" {
					m.meta.specialUse = specialUse
				}
				created = append(created, n)
				return m.save()
			}
			if err := dropMbox(tx, n); err != nil { // stale state of a vanished folder
				return err
			}
			if err := makeMaildir(dir, true, u.s.opts.NoSync); err != nil {
				return mapFSError(err)
			}
			su := ""
			if n == name {
				su = specialUse
			}
			if _, err := u.createMbox(tx, n, su); err != nil {
				return err
			}
			created = append(created, n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	var evs []mailstore.Event
	for _, n := range created {
		u.s.w.mailboxCreated(u.name, n)
		evs = append(evs, mailstore.Event{Kind: mailstore.MailboxCreated, User: u.name, Mailbox: n})
	}
	u.s.publish(evs)
	return nil
}

// childNames lists the mailboxes below name on disk.
func (u *userState) childNames(name string) []string {
	var out []string
	for _, n := range listMailboxDirs(u.maildir) {
		if isChild(n, name) {
			out = append(out, n)
		}
	}
	return out
}

// DeleteMailbox deletes a mailbox and its messages; a mailbox with
// children is emptied and kept as \Noselect (RFC 9051 6.3.5).
func (h *userHandle) DeleteMailbox(ctx context.Context, name string) error {
	u := h.u
	name, err := canonicalName(name)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	defer u.s.w.ownChange(u.name, name)()
	if name == "INBOX" {
		return fmt.Errorf("delete INBOX: %w", mailstore.ErrNotAllowed)
	}
	dir := filepath.Join(u.maildir, dirName(name))
	if !isMaildir(dir) {
		return fmt.Errorf("delete %s: %w", name, mailstore.ErrNoMailbox)
	}
	hasChildren := len(u.childNames(name)) > 0
	var evs []mailstore.Event
	trash := ""
	var emptied uint64
	err = u.update(func(tx *bolt.Tx) error {
		evs = nil
		m, err := u.openMbox(tx, name)
		if err != nil {
			return err
		}
		emptied = m.id
		if hasChildren {
			if m.meta.noSelect {
				return fmt.Errorf("%w", mailstore.ErrHasChildren)
			}
			var cs changeSet
			if err := m.expungeAll(&cs); err != nil {
				return err
			}
			m.meta.noSelect = true
			if err := dropMetadata(tx, m.id); err != nil {
				return err
			}
			if err := dropAccessKey(tx, m.id); err != nil {
				return err
			}
			evs = cs.events(u.name, m)
			return m.save()
		}
		if err := dropMbox(tx, name); err != nil {
			return err
		}
		// Rename first (atomic), remove after the commit: a crash leaves a
		// dot folder no one lists rather than half a mailbox.
		trash = filepath.Join(u.maildir, fmt.Sprintf("..deleted-%d", time.Now().UnixNano()))
		if err := os.Rename(dir, trash); err != nil {
			return mapFSError(err)
		}
		return nil
	})
	if err != nil {
		if trash != "" {
			_ = os.Rename(trash, dir)
		}
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if trash != "" {
		if err := removeFolder(trash); err != nil {
			u.s.log.Warn("remove deleted mailbox folder", "user", u.name, "mailbox", name, "err", err)
		}
		u.s.w.mailboxGone(u.name, name)
	}
	u.dropSearchIndexes(emptied)
	evs = append(evs, mailstore.Event{Kind: mailstore.MailboxDeleted, User: u.name, Mailbox: name})
	u.s.publish(evs)
	return nil
}

// expungeAll removes every message of the mailbox and its files.
func (m *mboxTx) expungeAll(cs *changeSet) error {
	var recs []msgRec
	c := m.msgs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeRec(beUint32(k), v, true)
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return nil
	}
	ms := m.nextModSeq()
	for i := range recs {
		if err := m.remove(&recs[i], ms); err != nil {
			return err
		}
		_ = os.Remove(filepath.Join(m.dir, "cur", recs[i].file))
		cs.expunged = append(cs.expunged, recs[i].uid)
	}
	return nil
}

// RenameMailbox renames a mailbox and its children. Renaming INBOX moves
// its messages to a new mailbox and leaves INBOX, and INBOX's children,
// where they are (RFC 9051 6.3.6).
func (h *userHandle) RenameMailbox(ctx context.Context, from, to string) error {
	u := h.u
	from, err := canonicalName(from)
	if err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	to, err = canonicalName(to)
	if err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	defer u.s.w.ownChange(u.name, from, to)()
	if !isMaildir(filepath.Join(u.maildir, dirName(from))) {
		return fmt.Errorf("rename %s: %w", from, mailstore.ErrNoMailbox)
	}
	if to == "INBOX" || isMaildir(filepath.Join(u.maildir, dirName(to))) {
		return fmt.Errorf("rename %s to %s: %w", from, to, mailstore.ErrMailboxExists)
	}
	if isChild(to, from) {
		return fmt.Errorf("rename %s to %s: into itself: %w", from, to, mailstore.ErrNotAllowed)
	}
	for _, p := range parentNames(to) {
		if !isMaildir(filepath.Join(u.maildir, dirName(p))) {
			if err := h.CreateMailbox(ctx, p, ""); err != nil && !errors.Is(err, mailstore.ErrMailboxExists) {
				return fmt.Errorf("rename %s to %s: %w", from, to, err)
			}
		}
	}
	if from == "INBOX" {
		return h.renameInbox(ctx, to)
	}
	pairs := [][2]string{{from, to}}
	for _, c := range u.childNames(from) {
		pairs = append(pairs, [2]string{c, to + c[len(from):]})
	}
	for _, p := range pairs {
		if _, err := canonicalName(p[1]); err != nil {
			return fmt.Errorf("rename %s to %s: %w", p[0], p[1], err)
		}
	}
	var done [][2]string
	err = u.update(func(tx *bolt.Tx) error {
		// Renames logged in the folders about to move are fsynced first,
		// under the writer lock, so that none is left to sync at a path
		// that no longer exists (namelog.go).
		u.syncNameLog()
		names, subs := tx.Bucket(bktNames), tx.Bucket(bktSubs)
		for _, p := range pairs {
			oldDir, newDir := filepath.Join(u.maildir, dirName(p[0])), filepath.Join(u.maildir, dirName(p[1]))
			if err := os.Rename(oldDir, newDir); err != nil {
				return mapFSError(err)
			}
			done = append(done, p)
			if id, ok := mailboxID(tx, p[0]); ok {
				m, err := u.loadMbox(tx, id)
				if err != nil {
					return err
				}
				m.meta.name = p[1]
				if err := m.save(); err != nil {
					return err
				}
				if err := names.Delete([]byte(p[0])); err != nil {
					return err
				}
				if err := names.Put([]byte(p[1]), u64(id)); err != nil {
					return err
				}
			}
			// Subscriptions follow the mailbox, as most servers do.
			if subs.Get([]byte(p[0])) != nil {
				if err := subs.Delete([]byte(p[0])); err != nil {
					return err
				}
				if err := subs.Put([]byte(p[1]), nil); err != nil {
					return err
				}
			}
		}
		if !u.s.opts.NoSync {
			return syncDir(u.maildir)
		}
		return nil
	})
	if err != nil {
		for i := len(done) - 1; i >= 0; i-- {
			_ = os.Rename(filepath.Join(u.maildir, dirName(done[i][1])), filepath.Join(u.maildir, dirName(done[i][0])))
		}
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	var evs []mailstore.Event
	for _, p := range pairs {
		u.s.w.mailboxRenamed(u.name, p[0], p[1])
		evs = append(evs, mailstore.Event{Kind: mailstore.MailboxRenamed, User: u.name, Mailbox: p[1], OldName: p[0]})
	}
	u.s.publish(evs)
	return nil
}

// renameInbox moves every INBOX message into a new mailbox named to.
func (h *userHandle) renameInbox(ctx context.Context, to string) error {
	if err := h.CreateMailbox(ctx, to, ""); err != nil {
		return fmt.Errorf("rename INBOX to %s: %w", to, err)
	}
	mb, err := h.Mailbox(ctx, "INBOX")
	if err != nil {
		return fmt.Errorf("rename INBOX to %s: %w", to, err)
	}
	defer mb.Close()
	if _, err := mb.(*mailboxHandle).moveAll(ctx, to); err != nil {
		return fmt.Errorf("rename INBOX to %s: %w", to, err)
	}
	return nil
}

// SetSubscribed subscribes to or unsubscribes from a name, which need not
// exist (RFC 9051 6.3.7).
func (h *userHandle) SetSubscribed(ctx context.Context, name string, subscribed bool) error {
	u := h.u
	name, err := canonicalName(name)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	err = u.update(func(tx *bolt.Tx) error {
		if subscribed {
			return tx.Bucket(bktSubs).Put([]byte(name), nil)
		}
		return tx.Bucket(bktSubs).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", name, err)
	}
	u.s.publish([]mailstore.Event{{Kind: mailstore.SubscriptionsChanged, User: u.name, Mailbox: name}})
	return nil
}

// Status returns a mailbox's counters from the index, after a rescan when
// the folder changed unseen.
func (h *userHandle) Status(ctx context.Context, name string) (mailstore.Status, error) {
	u := h.u
	name, err := canonicalName(name)
	if err != nil {
		return mailstore.Status{}, fmt.Errorf("status: %w", err)
	}
	if err := u.ensureSynced(name); err != nil {
		return mailstore.Status{}, fmt.Errorf("status %s: %w", name, err)
	}
	var st mailstore.Status
	err = u.view(func(tx *bolt.Tx) error {
		m, err := u.openSelectable(tx, name)
		if err != nil {
			return err
		}
		st = mailstore.Status{
			Messages: m.meta.messages, Unseen: m.meta.unseen, Deleted: m.meta.deleted,
			Size: m.meta.size, UIDNext: m.meta.uidNext, UIDValidity: m.meta.uidValidity,
			HighestModSeq: m.meta.highestModSeq,
			MailboxID:     formatMailboxID(m.meta.uidValidity, m.id),
		}
		c := m.msgs.Cursor()
		for k, _ := c.Seek(u32(u.firstRecent(m.id, m.meta.firstRecent))); k != nil; k, _ = c.Next() {
			st.Recent++
		}
		return nil
	})
	if err != nil {
		return mailstore.Status{}, fmt.Errorf("status %s: %w", name, err)
	}
	return st, nil
}

// Mailbox opens a mailbox. The mailbox's folders stay watched while the
// handle is open, so its index follows changes made on disk.
func (h *userHandle) Mailbox(ctx context.Context, name string) (mailstore.Mailbox, error) {
	u := h.u
	name, err := canonicalName(name)
	if err != nil {
		return nil, fmt.Errorf("open mailbox: %w", err)
	}
	release := u.s.w.hold(u.name, name, false)
	if err := u.ensureSynced(name); err != nil {
		release()
		return nil, fmt.Errorf("open mailbox %s: %w", name, err)
	}
	var id uint64
	var uv uint32
	err = u.view(func(tx *bolt.Tx) error {
		m, err := u.openSelectable(tx, name)
		if err != nil {
			return err
		}
		id, uv = m.id, m.meta.uidValidity
		return nil
	})
	if err != nil {
		release()
		return nil, fmt.Errorf("open mailbox %s: %w", name, err)
	}
	if _, err := u.s.acquire(u.name); err != nil {
		release()
		return nil, err
	}
	return &mailboxHandle{u: u, id: id, name: name, uidValidity: uv, unwatch: release}, nil
}
