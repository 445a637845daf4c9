package imapserver

import (
	"fmt"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// specialUses are the RFC 6154 attributes CREATE accepts in USE.
var specialUses = [...]string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`}

// canonicalName trims the trailing separator (RFC 9051 6.3.4) and spells
// INBOX the store's way (mailstore.CanonicalName).
func canonicalName(name string) string {
	return mailstore.CanonicalName(strings.TrimSuffix(name, "/"))
}

// handleCreate serves CREATE (RFC 9051 6.3.4) with RFC 6154 USE.
func handleCreate(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.CreateArgs)
	if a == nil {
		return errBAD("", "Missing mailbox")
	}
	name := canonicalName(a.Mailbox)
	if name == "" {
		return errNO("CANNOT", "Invalid mailbox name")
	}
	use := ""
	switch len(a.SpecialUse) {
	case 0:
	case 1:
		for _, u := range specialUses {
			if strings.EqualFold(u, a.SpecialUse[0]) {
				use = u
			}
		}
		if use == "" {
			return errNO("USEATTR", "Unsupported special-use attribute")
		}
	default:
		return errNO("USEATTR", "Only one special-use attribute per mailbox")
	}
	if name == "INBOX" {
		return errNO("ALREADYEXISTS", "INBOX always exists")
	}
	if err := c.mailboxRoom(name); err != nil {
		return err
	}
	defer c.ownChange(mailstore.MailboxCreated, name)()
	if err := c.user.CreateMailbox(c.ctx, name, use); err != nil {
		return storeError(err)
	}
	// RFC 8474 4.1: the new mailbox's MAILBOXID in the tagged OK. A
	// mailbox deleted again at once by another session has none to give.
	if st, err := c.user.Status(c.ctx, name); err == nil && st.MailboxID != "" {
		c.okCode = "MAILBOXID (" + st.MailboxID + ")"
	}
	return nil
}

// mailboxRoom refuses with NO [LIMIT] a CREATE of name that would take the
// user past MaxMailboxesPerUser, counting the parents it would create.
// Two sessions creating at once may both pass: the limit bounds a
// user's mailboxes to about MaxMailboxesPerUser, not exactly.
func (c *conn) mailboxRoom(name string) error {
	limit := c.srv.limits.MaxMailboxesPerUser
	if limit <= 0 {
		return nil
	}
	list, err := c.user.Mailboxes(c.ctx)
	if err != nil {
		return storeError(fmt.Errorf("create %s: count mailboxes: %w", name, err))
	}
	if len(list)+strings.Count(name, "/")+1 <= limit {
		return nil // the common case: room even if every level is new
	}
	have := make(map[string]bool, len(list))
	for _, mb := range list {
		if !mb.NonExistent {
			have[mb.Name] = true
		}
	}
	added := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' {
			if level := name[:i]; level != "" && !have[level] {
				added++
			}
		}
	}
	if added > 0 && len(list)+added > limit {
		return errNO("LIMIT", fmt.Sprintf("Too many mailboxes (max_mailboxes_per_user=%d)", limit))
	}
	return nil
}

// handleDelete serves DELETE (RFC 9051 6.3.5).
func handleDelete(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.MailboxArgs)
	if a == nil {
		return errBAD("", "Missing mailbox")
	}
	name := canonicalName(a.Mailbox)
	if name == "INBOX" {
		return errNO("CANNOT", "INBOX cannot be deleted")
	}
	defer c.ownChange(mailstore.MailboxDeleted, name)()
	return storeError(c.user.DeleteMailbox(c.ctx, name))
}

// handleRename serves RENAME (RFC 9051 6.3.6).
func handleRename(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.RenameArgs)
	if a == nil {
		return errBAD("", "Missing mailboxes")
	}
	from, to := canonicalName(a.From), canonicalName(a.To)
	if to == "INBOX" {
		return errNO("ALREADYEXISTS", "INBOX always exists")
	}
	if to == "" {
		return errNO("CANNOT", "Invalid mailbox name")
	}
	defer c.ownChange(mailstore.MailboxRenamed, from, to)()
	return storeError(c.user.RenameMailbox(c.ctx, from, to))
}

// handleSubscribe serves SUBSCRIBE and UNSUBSCRIBE (RFC 9051 6.3.7, 6.3.8).
func handleSubscribe(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.MailboxArgs)
	if a == nil {
		return errBAD("", "Missing mailbox")
	}
	name := canonicalName(a.Mailbox)
	defer c.ownChange(mailstore.SubscriptionsChanged, name)()
	return storeError(c.user.SetSubscribed(c.ctx, name, cmd.Name == "SUBSCRIBE"))
}

// handleNamespace serves RFC 2342 NAMESPACE: one personal namespace.
func handleNamespace(c *conn, cmd *imapwire.Command) error {
	c.w.Raw(`* NAMESPACE (("" "/")) NIL NIL`).CRLF()
	return nil
}

// handleList serves LIST with the RFC 5258 extensions (selection options
// SUBSCRIBED, RECURSIVEMATCH, SPECIAL-USE; return options SUBSCRIBED,
// CHILDREN, SPECIAL-USE, STATUS (RFC 5819)) and LSUB.
func handleList(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.ListArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	lsub := a.LSUB || cmd.Name == "LSUB"
	resp := "LIST"
	if lsub {
		resp = "LSUB"
	}
	var selSubscribed, selRecursive, selSpecial bool
	for _, o := range a.Select {
		switch strings.ToUpper(o) {
		case "SUBSCRIBED":
			selSubscribed = true
		case "RECURSIVEMATCH":
			selRecursive = true
		case "SPECIAL-USE":
			selSpecial = true
		case "REMOTE":
		default:
			return errBAD("", "Unknown LIST selection option")
		}
	}
	// RFC 5258 3: RECURSIVEMATCH alone is an error.
	if selRecursive && !selSubscribed && !selSpecial {
		return errBAD("", "RECURSIVEMATCH needs another selection option")
	}
	// RFC 9051 6.3.9: LIST "" "" asks for the hierarchy delimiter.
	if len(a.Patterns) == 1 && a.Patterns[0] == "" && len(a.Select) == 0 && !lsub {
		c.w.Raw(`* LIST (\Noselect) "/" ""`).CRLF()
		return nil
	}
	infos, err := c.user.Mailboxes(c.ctx)
	if err != nil {
		return storeError(err)
	}
	// Which names have children, and which have subscribed descendants.
	hasChild := make(map[string]bool)
	subChild := make(map[string]bool)
	for _, mi := range infos {
		for p := parentOf(mi.Name); p != ""; p = parentOf(p) {
			hasChild[p] = hasChild[p] || !mi.NonExistent
			if mi.Subscribed {
				subChild[p] = true
			}
		}
	}
	patterns, err := compilePatterns(a.Reference, a.Patterns)
	if err != nil {
		return err
	}
	retSubscribed := a.ReturnSubscribed || selSubscribed
	// subOutside holds the names with a subscribed descendant that the
	// patterns do not match (RECURSIVEMATCH's CHILDINFO).
	var subOutside map[string]bool
	if selRecursive && selSubscribed {
		subOutside = make(map[string]bool)
		for _, mi := range infos {
			if mi.Subscribed && !patterns.match(mi.Name) {
				for p := parentOf(mi.Name); p != "" && !subOutside[p]; p = parentOf(p) {
					subOutside[p] = true
				}
			}
		}
	}
	// RFC 3501 6.3.9: LSUB lists a mailbox that is not subscribed but has
	// subscribed children as \Noselect when the pattern stops above them
	// ("%"): covered holds the names with a subscribed descendant that
	// matches, which is listed instead.
	var covered map[string]bool
	if lsub {
		covered = make(map[string]bool)
		for _, mi := range infos {
			if mi.Subscribed && patterns.match(mi.Name) {
				for p := parentOf(mi.Name); p != "" && !covered[p]; p = parentOf(p) {
					covered[p] = true
				}
			}
		}
	}
	for i := range infos {
		mi := &infos[i]
		if err := c.interrupted(); err != nil {
			return err
		}
		if !patterns.match(mi.Name) || mi.NonExistent && !lsub && !selSubscribed {
			continue
		}
		childInfo, lsubParent := false, false
		switch {
		case lsub && !mi.Subscribed && subChild[mi.Name] && !covered[mi.Name]:
			lsubParent = true
		case lsub || selSubscribed:
			// RFC 5258 3.5 (and its example 9): with RECURSIVEMATCH,
			// a mailbox with a subscribed descendant that the patterns
			// do not match gets CHILDINFO, subscribed itself or not;
			// one not subscribed is listed only then. A descendant
			// that matches is listed itself, and tells nothing more.
			childInfo = selRecursive && !lsub && subOutside[mi.Name]
			if !mi.Subscribed && !childInfo {
				continue
			}
		case selSpecial:
			if mi.SpecialUse == "" {
				continue
			}
		}
		c.w.Raw("* ").Raw(resp).Raw(" (")
		attrs := 0
		attr := func(s string) {
			if attrs > 0 {
				c.w.SP()
			}
			c.w.Raw(s)
			attrs++
		}
		switch {
		case mi.NonExistent && !lsub:
			attr(`\NonExistent`) // RFC 5258 3.4: implies \Noselect
		case mi.NoSelect || lsubParent:
			attr(`\Noselect`)
		}
		if !lsub {
			// RFC 3348 / RFC 5258 4: children are always reported (of
			// a mailbox that exists).
			switch {
			case mi.NonExistent:
			case hasChild[mi.Name]:
				attr(`\HasChildren`)
			default:
				attr(`\HasNoChildren`)
			}
			if retSubscribed && mi.Subscribed {
				attr(`\Subscribed`)
			}
			if mi.SpecialUse != "" {
				attr(mi.SpecialUse)
			}
		}
		c.w.Raw(`) "/" `)
		c.w.Mailbox(mi.Name)
		if childInfo {
			c.w.Raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		c.w.CRLF()
		if a.ReturnStatus != nil && !mi.NoSelect && !lsub {
			// RFC 5819 2: STATUS follows its LIST line; a failure is
			// not an error of the LIST.
			if st, err := c.user.Status(c.ctx, mi.Name); err == nil && c.deletedStorage(mi.Name, &st, a.ReturnStatus) == nil {
				c.writeStatus(mi.Name, st, a.ReturnStatus)
			}
		}
	}
	return nil
}

// parentOf returns the parent name of a mailbox, or "".
func parentOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i > 0 {
		return name[:i]
	}
	return ""
}

// canonicalPattern spells a pattern's first level the store's way
// (mailstore.CanonicalName) when that level is INBOX in any case, so that
// "inbox", "inbox/*", "inbox*" and "inbox%" match INBOX and its children
// whatever case the client used. The first level ends at the separator or
// at the first wildcard.
func canonicalPattern(p string) string {
	end := strings.IndexAny(p, "/*%")
	if end < 0 {
		end = len(p)
	}
	if !mailstore.IsInbox(p[:end]) {
		return p
	}
	return mailstore.Inbox + p[end:]
}

// handleStatus serves STATUS (RFC 9051 6.3.11) with RFC 8438 SIZE and
// RFC 7162 HIGHESTMODSEQ.
func handleStatus(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.StatusArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	for _, it := range a.Items {
		switch it {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "DELETED-STORAGE", "APPENDLIMIT", "MAILBOXID":
		case "HIGHESTMODSEQ":
			c.enableCondstore()
		default:
			return errBAD("", "Unknown STATUS item "+it)
		}
	}
	name := canonicalName(a.Mailbox)
	st, err := c.user.Status(c.ctx, name)
	if err == nil {
		err = c.deletedStorage(name, &st, a.Items)
	}
	if err != nil {
		return storeError(err)
	}
	c.writeStatus(name, st, a.Items)
	return nil
}

func (c *conn) writeStatus(name string, st mailstore.Status, items []string) {
	c.w.Raw("* STATUS ")
	c.w.Mailbox(name)
	c.w.Raw(" (")
	for i, it := range items {
		if i > 0 {
			c.w.SP()
		}
		c.w.Raw(it).SP()
		switch it {
		case "MESSAGES":
			c.w.Number32(st.Messages)
		case "UIDNEXT":
			c.w.Number32(st.UIDNext)
		case "UIDVALIDITY":
			c.w.Number32(st.UIDValidity)
		case "UNSEEN":
			c.w.Number32(st.Unseen)
		case "DELETED":
			c.w.Number32(st.Deleted)
		case "SIZE":
			c.w.Number(uint64(st.Size))
		case "APPENDLIMIT":
			c.w.Number(uint64(c.srv.limits.MaxLiteral)) // RFC 7889 4: the same for every mailbox
		case "DELETED-STORAGE":
			c.w.Number(uint64(st.DeletedStorage / 1024)) // RFC 9208 4.2: units of 1024 octets
		case "RECENT":
			c.w.Number32(st.Recent)
		case "HIGHESTMODSEQ":
			c.w.Number(st.HighestModSeq)
		case "MAILBOXID":
			// RFC 8474 4.3; NIL where the store keeps none.
			if st.MailboxID == "" {
				c.w.NIL()
			} else {
				c.w.Raw("(").Raw(st.MailboxID).Raw(")")
			}
		default:
			c.w.Raw("NIL")
		}
	}
	c.w.Raw(")").CRLF()
}
