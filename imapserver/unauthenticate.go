package imapserver

import (
	"time"

	"github.com/dormouse/dormouse/imapwire"
)

// unauthenticateCap advertises UNAUTHENTICATE (RFC 8437), in every state
// as RFC 8437 2 allows.
const unauthenticateCap = " UNAUTHENTICATE"

// handleUnauthenticate serves UNAUTHENTICATE (RFC 8437 3): the selected
// mailbox is closed without expunging, the user's mail released, and the
// connection is back in the not-authenticated state as if it had just
// connected (over TLS if it was): extensions turned on with ENABLE are off
// again, the login timeout and the limit on unauthenticated connections
// of the address apply again, and another LOGIN or AUTHENTICATE may
// follow. There is no SASL security layer or compression to undo.
func handleUnauthenticate(c *conn, cmd *imapwire.Command) error {
	c.endSession()
	c.log.Info("unauthenticated")
	c.loginDeadline = time.Now().Add(c.srv.limits.LoginTimeout)
	if !c.holdPreAuth() {
		return &byeError{text: "[UNAVAILABLE] Too many connections from your address; try again later"}
	}
	return nil
}

// endSession takes a logged-in connection back to the not-authenticated
// state: the session's mailbox, NOTIFY, user handle and count released,
// its extensions off, its logs without user (UNAUTHENTICATE, a refused
// XRESUME).
func (c *conn) endSession() {
	c.closeSession() // NOTIFY too
	c.uncountUser()
	c.username, c.state = "", stateNotAuth
	c.enabled = enabled{}
	c.w.UTF8 = false
	c.dec.SetUTF8(false)
	c.admin.setUser("")
	if c.admin.client.Swap(nil) != nil {
		// Limits count the hop's own address again.
		c.addrKey = addrKey(c.nc.RemoteAddr())
	}
	c.proxied = false
	c.logBase = c.srv.log.With("conn", c.id)
	c.log = c.logBase
}
