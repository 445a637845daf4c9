package imapserver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// QUOTA (RFC 9208). Each user has one quota root, named "", that covers
// all the user's mailboxes; its resources are STORAGE (in units of 1024
// octets, the sum of RFC822.SIZE) and MESSAGE. The store keeps the usage
// in its index and enforces the limits on APPEND, COPY and delivery
// (mailstore.QuotaUser); a mailbox's quota root is listed only when a
// limit is in force, since a QUOTA response needs at least one resource
// (RFC 9208 7, quota_list). An administrator (Config.QuotaAdmins) may set
// limits with SETQUOTA, on its own root "" or on another user's, named
// "user/NAME".

// quotaCaps are the QUOTA capabilities; QUOTASET (RFC 9208 3.3) is added
// when administrators are configured.
const quotaCaps = " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE"

// quotaUserPrefix starts the quota root name of another user's quota, as
// administrators name it.
const quotaUserPrefix = "user/"

// isQuotaAdmin reports whether user may set quota limits.
func (s *Server) isQuotaAdmin(user string) bool {
	for _, a := range s.cfg.QuotaAdmins {
		if strings.EqualFold(a, user) {
			return true
		}
	}
	return false
}

// quotaUser returns the session user's quota interface.
func (c *conn) quotaUser() (mailstore.QuotaUser, error) {
	q, ok := c.user.(mailstore.QuotaUser)
	if !ok {
		return nil, errNO("CANNOT", "Quota is not supported by this mail store")
	}
	return q, nil
}

// userLookup is what Config.Auth offers when it can tell a user exists
// (the passwd-file does).
type userLookup interface {
	LookupUser(name string) (user string, ok bool, err error)
}

// quotaRoot opens the quota of a root: "" is the session user's own;
// "user/NAME" another user's, for administrators only. The returned
// release closes what was opened for it.
func (c *conn) quotaRoot(root string) (q mailstore.QuotaUser, release func(), err error) {
	if root == "" {
		q, err := c.quotaUser()
		return q, func() {}, err
	}
	name, ok := strings.CutPrefix(root, quotaUserPrefix)
	if !ok || name == "" || !c.srv.isQuotaAdmin(c.username) {
		return nil, nil, errNO("NONEXISTENT", "No such quota root")
	}
	lk, ok := c.srv.cfg.Auth.(userLookup)
	if !ok {
		return nil, nil, errNO("NONEXISTENT", "No such quota root")
	}
	user, ok, err := lk.LookupUser(name)
	if err != nil {
		return nil, nil, storeError(fmt.Errorf("look up %q: %w", name, err))
	}
	if !ok {
		return nil, nil, errNO("NONEXISTENT", "No such quota root")
	}
	u, err := c.srv.cfg.Store.User(c.ctx, user)
	if err != nil {
		return nil, nil, storeError(err)
	}
	qu, ok := u.(mailstore.QuotaUser)
	if !ok {
		u.Close()
		return nil, nil, errNO("CANNOT", "Quota is not supported by this mail store")
	}
	return qu, func() { u.Close() }, nil
}

// writeQuota writes "* QUOTA root (...)" with the resources that have a
// limit. STORAGE is in units of 1024 octets, rounded down as Dovecot
// does (RFC 9208 5.1).
func writeQuota(w *imapwire.Writer, root string, q mailstore.Quota) {
	w.Raw("* QUOTA ").String(root).Raw(" (")
	sep := ""
	if q.Limits.Storage > 0 {
		w.Raw("STORAGE ").Number(uint64(q.Usage.Storage / 1024)).SP().Number(uint64(q.Limits.Storage / 1024))
		sep = " "
	}
	if q.Limits.Messages > 0 {
		w.Raw(sep).Raw("MESSAGE ").Number(uint64(q.Usage.Messages)).SP().Number(uint64(q.Limits.Messages))
	}
	w.Raw(")").CRLF()
}

// handleGetQuota serves GETQUOTA (RFC 9208 4.1.1).
func handleGetQuota(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.QuotaRootArgs)
	if a == nil {
		return errBAD("", "Missing quota root")
	}
	qu, release, err := c.quotaRoot(a.Root)
	if err != nil {
		return err
	}
	defer release()
	q, err := qu.Quota(c.ctx)
	if err != nil {
		return storeError(err)
	}
	if q.Limits.Unlimited() {
		return errNO("NONEXISTENT", "No quota limits for this root")
	}
	writeQuota(c.w, a.Root, q)
	return nil
}

// handleGetQuotaRoot serves GETQUOTAROOT (RFC 9208 4.1.2): the root ""
// covers every mailbox, when a limit is in force.
func handleGetQuotaRoot(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.MailboxArgs)
	if a == nil {
		return errBAD("", "Missing mailbox")
	}
	name := canonicalName(a.Mailbox)
	if _, err := c.user.Status(c.ctx, name); err != nil {
		return storeError(err)
	}
	qu, err := c.quotaUser()
	if err != nil {
		return err
	}
	q, err := qu.Quota(c.ctx)
	if err != nil {
		return storeError(err)
	}
	writeQuotaRoot(c.w, name, q)
	return nil
}

// writeQuotaRoot writes GETQUOTAROOT's answer for mailbox: its one root,
// "", with its QUOTA, or no root when no limit is in force.
func writeQuotaRoot(w *imapwire.Writer, mailbox string, q mailstore.Quota) {
	w.Raw("* QUOTAROOT ").Mailbox(mailbox)
	if q.Limits.Unlimited() {
		w.CRLF()
		return
	}
	w.Raw(` ""`).CRLF()
	writeQuota(w, "", q)
}

// handleSetQuota serves SETQUOTA (RFC 9208 4.1.3) for administrators.
// The resources given replace the root's limits; a resource left out has
// none. The limits are kept in the user's index and take precedence over
// the configured ones.
func handleSetQuota(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.SetQuotaArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	if !c.srv.isQuotaAdmin(c.username) {
		return errNO("NOPERM", "Only administrators may set quota limits")
	}
	var l mailstore.QuotaLimits
	for _, r := range a.Limits {
		const maxLimit = 1 << 52 // KiB: far beyond any disk, and no overflow in bytes
		if r.Limit > maxLimit {
			return errNO("LIMIT", "Limit too large")
		}
		switch r.Resource {
		case "STORAGE":
			l.Storage = int64(r.Limit) * 1024
		case "MESSAGE":
			l.Messages = int64(r.Limit)
		default:
			// RFC 9208 4.1.3: a resource the server does not support.
			return errNO("CANNOT", "Unsupported resource "+r.Resource)
		}
	}
	qu, release, err := c.quotaRoot(a.Root)
	if err != nil {
		return err
	}
	defer release()
	if err := qu.SetQuotaLimits(c.ctx, &l); err != nil {
		return storeError(err)
	}
	q, err := qu.Quota(c.ctx)
	if err != nil {
		return storeError(err)
	}
	if !q.Limits.Unlimited() {
		writeQuota(c.w, a.Root, q)
	}
	return nil
}

// deletedStorage fills st.DeletedStorage when items ask for it (STATUS
// DELETED-STORAGE, RFC 9208 4.2).
func (c *conn) deletedStorage(name string, st *mailstore.Status, items []string) error {
	for _, it := range items {
		if it != "DELETED-STORAGE" {
			continue
		}
		qu, ok := c.user.(mailstore.QuotaUser)
		if !ok {
			return errors.New("quota is not supported by this mail store")
		}
		n, err := qu.DeletedStorage(c.ctx, name)
		if err != nil {
			return err
		}
		st.DeletedStorage = n
		return nil
	}
	return nil
}
