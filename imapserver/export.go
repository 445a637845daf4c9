package imapserver

import (
	"fmt"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapview"
)

// errNotExportable says why an idling session stays active.
type errNotExportable string

func (e errNotExportable) Error() string { return "not exportable: " + string(e) }

// exportState exports a session that is selected or authenticated, in
// IDLE (tag) or quiet between commands (tag "") (docs/design.md "The
// state blob"). The reason of an errNotExportable is a metric label.
func (c *conn) exportState(tag string) (*hibernate.State, error) {
	st := &hibernate.State{
		User:    c.username,
		IdleTag: tag,
		TLS:     c.tls,
		Enabled: c.enabled.bits(),
	}
	var spec *notifySpec
	if c.notify != nil {
		// MessageNew's fetch attributes too: the sleeper writes
		// their FETCH, or wakes for it (notify_fetch.go).
		spec = c.notify.spec
	}
	switch {
	case c.state == stateAuth:
		// No mailbox: the sleeper watches nothing but its socket
		// (and, with NOTIFY, the user's other mailboxes).
	case c.state != stateSelected || c.sel == nil:
		return nil, errNotExportable("not_logged_in")
	default:
		st.Mailbox = c.sel.name
		c.sel.view.Export(st)
	}
	// Compressed, in either state: the inflater's state goes with it.
	if err := c.exportDeflate(st); err != nil {
		return nil, err
	}
	withNotify(st, spec)
	blob, err := st.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", st.Mailbox, err)
	}
	if len(blob) > hibernate.MaxBlob {
		// A view with many holes (ranges), a large saved search, or a
		// compressed connection's window that does not deflate.
		return nil, errNotExportable("blob_size")
	}
	return st, nil
}

// restoreState rebuilds the session of an exported State on a fresh conn:
// it opens the user and the mailbox (with its watch, then a snapshot) and
// turns the view back into the one the session had at export, so that
// the first refresh reports exactly what changed since (docs/design.md
// "Replay on wake"): the store's expunge log and MODSEQ index answer it.
func (c *conn) restoreState(st *hibernate.State) error {
	u, err := c.srv.cfg.Store.User(c.ctx, st.User)
	if err != nil {
		return fmt.Errorf("restore user %s: %w", st.User, err)
	}
	c.user, c.username, c.state = u, st.User, stateAuth
	c.admin.setUser(st.User)
	c.logBase = c.logBase.With("user", st.User)
	c.log = c.logBase
	c.enabled = enabledOf(st.Enabled)
	if c.enabled.utf8 {
		c.w.UTF8 = true
		c.dec.SetUTF8(true)
	}
	spec, err := notifyOf(st)
	if err != nil {
		return err
	}
	if spec != nil {
		c.startNotify(spec, c.wokenQueue)
	} else if c.wokenQueue != nil {
		c.wokenQueue.close()
	}
	c.wokenQueue = nil
	if st.Mailbox == "" {
		return nil // authenticated, nothing selected
	}
	sel, err := c.openWatched(st.Mailbox)
	if err != nil {
		return fmt.Errorf("restore %s: %w", st.Mailbox, err)
	}
	c.sel, c.state = sel, stateSelected
	c.log = c.logBase.With("mailbox", sel.name)

	// The view at export, with the records the store has now; the
	// first Apply (the resumed IDLE's, or the next command's) reports
	// what changed since, and claims \Recent for what it adds, as an
	// awake session's would.
	v, err := imapview.Restored(c.ctx, sel.mbox, st)
	if err != nil {
		c.sel = nil
		c.state = stateAuth
		sel.close()
		return fmt.Errorf("restore: %w", err)
	}
	v.Eval = contextEval{c}
	sel.view = v
	// The first step of the resumed IDLE is a refresh.
	sel.signal()
	return nil
}

// bits returns the extensions as the state blob records them.
func (e enabled) bits() hibernate.Extension {
	var x hibernate.Extension
	if e.condstore {
		x |= hibernate.ExtCondStore
	}
	if e.qresync {
		x |= hibernate.ExtQResync
	}
	if e.utf8 {
		x |= hibernate.ExtUTF8Accept
	}
	if e.rev2 {
		x |= hibernate.ExtIMAP4rev2
	}
	return x
}

// enabledOf is the inverse of enabled.bits.
func enabledOf(x hibernate.Extension) enabled {
	return enabled{
		condstore: x&hibernate.ExtCondStore != 0,
		qresync:   x&hibernate.ExtQResync != 0,
		utf8:      x&hibernate.ExtUTF8Accept != 0,
		rev2:      x&hibernate.ExtIMAP4rev2 != 0,
	}
}
