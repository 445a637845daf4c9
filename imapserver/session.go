package imapserver

import (
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// session is the IMAP state of a connection, apart from its transport.
type session struct {
	state    connState
	username string
	user     mailstore.User
	enabled  enabled
	sel      *selected // nil unless state == stateSelected
	// notify is the session's NOTIFY (RFC 5465, notify.go); nil
	// without one (never set, or NOTIFY NONE).
	notify *notifyState
}

// enabled records the extensions a client turned on with ENABLE (RFC 5161)
// or, for CONDSTORE, with any CONDSTORE enabling command (RFC 7162 3.1).
type enabled struct {
	rev2      bool // IMAP4rev2 (RFC 9051)
	condstore bool
	utf8      bool // UTF8=ACCEPT (RFC 6855)
	qresync   bool // QRESYNC (RFC 7162 3.2): VANISHED instead of EXPUNGE
}

// selected is the state of the selected mailbox: the mailbox handle, its
// watch, and the client's view of it (imapview: sequence numbers, what it
// has been told of flags and MODSEQ, \Recent, the saved search result),
// which is what a hibernated session exports (docs/design.md, "The state
// blob").
type selected struct {
	name string // as the store names it
	mbox mailstore.Mailbox
	view *imapview.View
	// notify holds a token when the store reported a change not yet
	// applied to view. The watch callback never blocks on it.
	notify      chan struct{}
	cancelWatch func()
}

// signal records a pending change without blocking.
func (s *selected) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// close releases the mailbox and its watch.
func (s *selected) close() {
	if s.cancelWatch != nil {
		s.cancelWatch()
	}
	s.mbox.Close()
}

// closeSession releases everything the session holds, at the end of the
// connection.
func (c *conn) closeSession() {
	if c.hibernated {
		// The sleeper keeps the NOTIFY queue (hibernator.notifiers).
		c.notify = nil
	} else {
		c.stopNotify()
	}
	if c.sel != nil {
		c.sel.close()
		c.sel = nil
	}
	if c.user != nil {
		c.user.Close()
		c.user = nil
	}
}

// stateMask is a set of states a command is allowed in.
type stateMask uint8

const (
	inNotAuth stateMask = 1 << iota
	inAuth
	inSelected

	inAny      = inNotAuth | inAuth | inSelected
	inLoggedIn = inAuth | inSelected
)

func (m stateMask) allows(s connState) bool {
	switch s {
	case stateNotAuth:
		return m&inNotAuth != 0
	case stateAuth:
		return m&inAuth != 0
	case stateSelected:
		return m&inSelected != 0
	}
	return false
}

type handlerFunc func(c *conn, cmd *imapwire.Command) error

type cmdSpec struct {
	states  stateMask
	fn      handlerFunc
	updates bool // untagged mailbox updates may follow (RFC 9051 7)
}

// lookupCommand returns the handler of a command name (upper case). A
// switch rather than a map keeps the package free of mutable globals.
func lookupCommand(name string) (cmdSpec, bool) {
	switch name {
	case "CAPABILITY":
		return cmdSpec{inAny, handleCapability, true}, true
	case "NOOP":
		return cmdSpec{inAny, handleNoop, true}, true
	case "LOGOUT":
		return cmdSpec{inAny, handleLogout, false}, true
	case "ID":
		return cmdSpec{inAny, handleID, true}, true
	case "STARTTLS":
		return cmdSpec{inNotAuth, handleStartTLS, false}, true
	case "LOGIN":
		return cmdSpec{inNotAuth, handleLogin, false}, true
	case "AUTHENTICATE":
		return cmdSpec{inNotAuth, handleAuthenticate, false}, true
	case "ENABLE":
		return cmdSpec{inAuth, handleEnable, false}, true
	case "COMPRESS":
		return cmdSpec{inLoggedIn, handleCompress, false}, true
	case "SELECT", "EXAMINE":
		return cmdSpec{inLoggedIn, handleSelect, false}, true
	case "CREATE":
		return cmdSpec{inLoggedIn, handleCreate, true}, true
	case "DELETE":
		return cmdSpec{inLoggedIn, handleDelete, true}, true
	case "RENAME":
		return cmdSpec{inLoggedIn, handleRename, true}, true
	case "SUBSCRIBE", "UNSUBSCRIBE":
		return cmdSpec{inLoggedIn, handleSubscribe, true}, true
	case "LIST", "LSUB":
		return cmdSpec{inLoggedIn, handleList, true}, true
	case "NAMESPACE":
		return cmdSpec{inLoggedIn, handleNamespace, true}, true
	case "STATUS":
		return cmdSpec{inLoggedIn, handleStatus, true}, true
	case "APPEND":
		return cmdSpec{inLoggedIn, handleAppend, true}, true
	case "IDLE":
		return cmdSpec{inLoggedIn, handleIdle, false}, true
	case "CHECK":
		return cmdSpec{inSelected, handleNoop, true}, true
	case "CLOSE":
		return cmdSpec{inSelected, handleClose, false}, true
	case "UNSELECT":
		return cmdSpec{inSelected, handleUnselect, false}, true
	case "EXPUNGE":
		return cmdSpec{inSelected, handleExpunge, true}, true
	case "SEARCH":
		return cmdSpec{inSelected, handleSearch, true}, true
	case "SORT":
		return cmdSpec{inSelected, handleSort, true}, true
	case "THREAD":
		return cmdSpec{inSelected, handleThread, true}, true
	case "CANCELUPDATE":
		return cmdSpec{inSelected, handleCancelUpdate, true}, true
	case "FETCH":
		return cmdSpec{inSelected, handleFetch, true}, true
	case "STORE":
		return cmdSpec{inSelected, handleStore, true}, true
	case "COPY":
		return cmdSpec{inSelected, handleCopy, true}, true
	case "MOVE":
		return cmdSpec{inSelected, handleMove, true}, true
	case "REPLACE":
		return cmdSpec{inSelected, handleReplace, true}, true
	case "GETQUOTA":
		return cmdSpec{inLoggedIn, handleGetQuota, true}, true
	case "GETQUOTAROOT":
		return cmdSpec{inLoggedIn, handleGetQuotaRoot, true}, true
	case "SETQUOTA":
		return cmdSpec{inLoggedIn, handleSetQuota, true}, true
	case "GETMETADATA":
		return cmdSpec{inLoggedIn, handleGetMetadata, true}, true
	case "SETMETADATA":
		return cmdSpec{inLoggedIn, handleSetMetadata, true}, true
	case "UNAUTHENTICATE":
		return cmdSpec{inLoggedIn, handleUnauthenticate, false}, true
	case "GENURLAUTH":
		return cmdSpec{inLoggedIn, handleGenURLAuth, true}, true
	case "RESETKEY":
		return cmdSpec{inLoggedIn, handleResetKey, true}, true
	case "URLFETCH":
		return cmdSpec{inLoggedIn, handleURLFetch, true}, true
	case "NOTIFY":
		return cmdSpec{inLoggedIn, handleNotify, true}, true
	case "XPROXY":
		return cmdSpec{inNotAuth, handleXProxy, false}, true
	case "XRESUME":
		return cmdSpec{inNotAuth, handleXResume, false}, true
	}
	return cmdSpec{}, false
}
