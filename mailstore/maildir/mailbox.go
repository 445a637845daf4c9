package maildir

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// mailboxHandle is an open mailbox. It names its mailbox by index id, so it
// keeps working when the mailbox is renamed.
type mailboxHandle struct {
	u           *userState
	id          uint64
	name        string
	uidValidity uint32
	unwatch     func()

	mu     sync.Mutex
	closed bool
}

var _ mailstore.Mailbox = (*mailboxHandle)(nil)

// Name returns the mailbox name as it was when the handle was opened.
func (h *mailboxHandle) Name() string { return h.name }

// UIDValidity returns the mailbox's UIDVALIDITY.
func (h *mailboxHandle) UIDValidity() uint32 { return h.uidValidity }

// Close releases the handle and, with it, its hold on the user's index and
// on the folder watch.
func (h *mailboxHandle) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.unwatch()
	h.u.s.release(h.u)
	return nil
}

// load opens this handle's mailbox in tx and checks it is still the same.
func (h *mailboxHandle) load(tx *bolt.Tx) (*mboxTx, error) {
	m, err := h.u.loadMbox(tx, h.id)
	if errors.Is(err, errNoState) {
		return nil, fmt.Errorf("mailbox %s: %w", h.name, mailstore.ErrNoMailbox)
	}
	if err != nil {
		return nil, err
	}
	if m.meta.uidValidity != h.uidValidity {
		return nil, fmt.Errorf("mailbox %s: %w", h.name, mailstore.ErrUIDValidity)
	}
	return m, nil
}

// update runs fn on this mailbox in a write transaction.
func (h *mailboxHandle) update(fn func(m *mboxTx) error) error {
	return h.u.update(h.inTx(fn))
}

// updateGrouped runs fn on this mailbox in a write transaction that it
// may share with other changes of the user (userState.updateGrouped,
// which says when fn runs again and when undo is called).
func (h *mailboxHandle) updateGrouped(fn func(m *mboxTx) error, undo func()) error {
	return h.u.updateGrouped(h.inTx(fn), undo)
}

// inTx is fn as a write transaction's function: the mailbox loaded,
// changed by fn and saved.
func (h *mailboxHandle) inTx(fn func(m *mboxTx) error) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		m, err := h.load(tx)
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		return m.save()
	}
}

// errRollback ends a write transaction without a commit on purpose
// (afterWriters, a flag commit that changed nothing).
var errRollback = errors.New("rolled back")

// afterWriters runs fn on this mailbox once the write transaction under
// way, if any, has committed: in a write transaction that is rolled back,
// so it writes nothing and costs no commit. A reader that found a file
// gone which its read transaction still lists reads through it what the
// transaction removing the file committed.
func (h *mailboxHandle) afterWriters(fn func(m *mboxTx) error) error {
	err := h.u.update(func(tx *bolt.Tx) error {
		m, err := h.load(tx)
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// view runs fn on this mailbox in a read transaction.
func (h *mailboxHandle) view(fn func(m *mboxTx) error) error {
	return h.u.view(func(tx *bolt.Tx) error {
		m, err := h.load(tx)
		if err != nil {
			return err
		}
		return fn(m)
	})
}

// mapFSError marks disk-full errors with mailstore.ErrNoSpace.
func mapFSError(err error) error {
	if !errors.Is(err, mailstore.ErrNoSpace) && mailstore.IsNoSpace(err) {
		return fmt.Errorf("%w: %w", mailstore.ErrNoSpace, err)
	}
	return err
}
