package imapserver

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// NOTIFY (RFC 5465): a client names, by groups of mailboxes, the events
// it wants pushed to it at any time, not only in IDLE. A group's filter
// is the selected mailbox (SELECTED, SELECTED-DELAYED) or a set of other
// mailboxes (INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES).
//
// What the selected mailbox is told goes through its view, as every
// update does (updates.go): with SELECTED the updates are pushed as soon
// as the store reports them, between commands too; with SELECTED-DELAYED,
// and with no selected group, they follow the base rules (after a
// command that allows them, and at once in IDLE), which RFC 5465 6
// allows for SELECTED-DELAYED ("MAY also delay ... other message
// events"). A session's other mailboxes are heard through a user-wide
// store watch (notifyQueue) and told as STATUS, LIST and METADATA
// responses (writeNotifications), by an awake session and a hibernated
// one alike (notify_sleep.go).

// notifyEvents is a set of NOTIFY events.
type notifyEvents uint8

const (
	evMessageNew notifyEvents = 1 << iota
	evMessageExpunge
	evFlagChange
	evMailboxName
	evSubscriptionChange
	evMailboxMetadata
	evServerMetadata

	evMessage = evMessageNew | evMessageExpunge | evFlagChange
)

// notifyEventNames are the events Dormouse supports, as BADEVENT lists
// them (RFC 5465 3.1); AnnotationChange is not among them: there is no
// ANNOTATE (RFC 5257).
const notifyEventNames = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange"

// notifyEventOf names an event; 0 for one not supported.
func notifyEventOf(name string) notifyEvents {
	switch strings.ToUpper(name) {
	case "MESSAGENEW":
		return evMessageNew
	case "MESSAGEEXPUNGE":
		return evMessageExpunge
	case "FLAGCHANGE":
		return evFlagChange
	case "MAILBOXNAME":
		return evMailboxName
	case "SUBSCRIPTIONCHANGE":
		return evSubscriptionChange
	case "MAILBOXMETADATACHANGE":
		return evMailboxMetadata
	case "SERVERMETADATACHANGE":
		return evServerMetadata
	}
	return 0
}

// notifyFilter is a group's filter-mailboxes.
type notifyFilter uint8

const (
	filterSelected notifyFilter = iota + 1
	filterSelectedDelayed
	filterInboxes
	filterPersonal
	filterSubscribed
	filterSubtree
	filterMailboxes
)

func notifyFilterOf(name string) notifyFilter {
	switch name {
	case "SELECTED":
		return filterSelected
	case "SELECTED-DELAYED":
		return filterSelectedDelayed
	case "INBOXES":
		return filterInboxes
	case "PERSONAL":
		return filterPersonal
	case "SUBSCRIBED":
		return filterSubscribed
	case "SUBTREE":
		return filterSubtree
	case "MAILBOXES":
		return filterMailboxes
	}
	return 0
}

// notifyGroup is one event group of a NOTIFY SET.
type notifyGroup struct {
	filter    notifyFilter
	mailboxes []string // SUBTREE and MAILBOXES, as the store names them
	events    notifyEvents
	// fetch is MessageNew's fetch attributes (a selected group's only).
	fetch []imapwire.FetchItem
}

// notifySpec is a NOTIFY SET, its groups in the client's order: for a
// mailbox and an event, the first group whose filter names the mailbox
// and that lists the event, or says NONE, decides (RFC 5465 6).
type notifySpec struct {
	groups []notifyGroup
}

// selected returns the group of the selected mailbox, nil when none.
func (s *notifySpec) selected() *notifyGroup {
	for i := range s.groups {
		if f := s.groups[i].filter; f == filterSelected || f == filterSelectedDelayed {
			return &s.groups[i]
		}
	}
	return nil
}

// pushesSelected says whether changes of the selected mailbox are
// pushed between commands (SELECTED with its message events).
func (s *notifySpec) pushesSelected() bool {
	g := s.selected()
	return g != nil && g.filter == filterSelected && g.events&evMessageNew != 0
}

// watchesOthers says whether some group asks for events of mailboxes
// other than the selected one.
func (s *notifySpec) watchesOthers() bool {
	for _, g := range s.groups {
		if g.filter != filterSelected && g.filter != filterSelectedDelayed && g.events != 0 {
			return true
		}
	}
	return false
}

// mailboxFacts answers what SUBSCRIBED filters and SubscriptionChange
// need; it lists the user's mailboxes once, when first asked: the events
// of one batch all came before it.
type mailboxFacts struct {
	list  func() ([]mailstore.MailboxInfo, error)
	infos map[string]mailstore.MailboxInfo
	err   error
	read  bool
}

// info returns what the store says of name; ok is false when it lists
// no such mailbox or subscription.
func (f *mailboxFacts) info(name string) (mi mailstore.MailboxInfo, ok bool) {
	if !f.read {
		f.read = true
		var infos []mailstore.MailboxInfo
		if infos, f.err = f.list(); f.err == nil {
			f.infos = make(map[string]mailstore.MailboxInfo, len(infos))
			for _, mi := range infos {
				f.infos[mi.Name] = mi
			}
		}
	}
	mi, ok = f.infos[name]
	return mi, ok
}

func (f *mailboxFacts) subscribed(name string) bool {
	mi, _ := f.info(name)
	return mi.Subscribed
}

// wants says whether event ev of mailbox name (not the selected one:
// its message events are its view's) is to be told; name is "" for a
// server event. RFC 5465 6: the first group that names the mailbox and
// lists the event, or says NONE, decides.
func (s *notifySpec) wants(name string, ev notifyEvents, facts *mailboxFacts) bool {
	for _, g := range s.groups {
		var match bool
		switch g.filter {
		case filterSelected, filterSelectedDelayed:
			continue
		case filterPersonal:
			match = true
		case filterInboxes:
			// The mailboxes an MDA delivers to: INBOX (a detail
			// mailbox reached by user+detail is a choice of the
			// LMTP configuration, unknown here).
			match = name == mailstore.Inbox
		case filterSubscribed:
			match = name != "" && facts.subscribed(name)
		case filterSubtree:
			match = slices.ContainsFunc(g.mailboxes, func(m string) bool {
				return name == m || strings.HasPrefix(name, m+"/")
			})
		case filterMailboxes:
			match = slices.Contains(g.mailboxes, name)
		}
		if ev == evServerMetadata {
			// A server event is no mailbox's: any group listing it.
			if g.events&ev != 0 {
				return true
			}
			continue
		}
		if !match {
			continue
		}
		if g.events == 0 {
			return false // NONE
		}
		if g.events&ev != 0 {
			return true
		}
	}
	return false
}

// newNotifySpec checks a NOTIFY SET (RFC 5465 3.1, 5, 8): an event
// Dormouse does not support is NO [BADEVENT (supported events)]; the
// rules on which events go together and on the selected filters are BAD.
func newNotifySpec(a *imapwire.NotifyArgs) (*notifySpec, error) {
	spec := &notifySpec{}
	for _, ig := range a.Groups {
		g := notifyGroup{filter: notifyFilterOf(ig.Filter)}
		if g.filter == 0 {
			return nil, errBAD("", "Unknown NOTIFY filter")
		}
		for _, name := range ig.Mailboxes {
			g.mailboxes = append(g.mailboxes, canonicalName(name))
		}
		for _, ev := range ig.Events {
			e := notifyEventOf(ev.Name)
			if e == 0 {
				// RFC 5465 3.1: an event the server does not support
				// (AnnotationChange among them here) is NO [BADEVENT]
				// with the events it does.
				return nil, errNO("BADEVENT ("+notifyEventNames+")", "Unsupported event "+textLine(ev.Name))
			}
			g.events |= e
			if len(ev.Fetch) > 0 {
				g.fetch = ev.Fetch
			}
		}
		spec.groups = append(spec.groups, g)
	}
	sawSelected := false
	for _, g := range spec.groups {
		// RFC 5465 5: MessageNew and MessageExpunge go together;
		// FlagChange (and AnnotationChange) needs them.
		if (g.events&evMessageNew != 0) != (g.events&evMessageExpunge != 0) {
			return nil, errBAD("", "MessageNew and MessageExpunge must be requested together")
		}
		if g.events&evFlagChange != 0 && g.events&evMessageNew == 0 {
			return nil, errBAD("", "FlagChange requires MessageNew and MessageExpunge")
		}
		if g.filter != filterSelected && g.filter != filterSelectedDelayed {
			if len(g.fetch) > 0 {
				return nil, errBAD("", "MessageNew fetch attributes apply to the selected mailbox only")
			}
			continue
		}
		// RFC 5465 6: one selected filter, with message events only.
		if sawSelected {
			return nil, errBAD("", "Only one SELECTED or SELECTED-DELAYED group is allowed")
		}
		sawSelected = true
		if g.events&^evMessage != 0 {
			return nil, errBAD("", "SELECTED and SELECTED-DELAYED take message events only")
		}
		for _, it := range g.fetch {
			// RFC 5465 5.2: the attributes of a MessageNew
			// notification must not change the message: a body
			// item must be BODY.PEEK or BINARY.PEEK (RFC822 and
			// RFC822.TEXT set \Seen too).
			if it.Name == "RFC822" || it.Name == "RFC822.TEXT" || ((it.Name == "BODY" || it.Name == "BINARY") && it.Section != nil && !it.Peek) {
				return nil, errBAD("", "MessageNew fetch attributes must not set \\Seen (use BODY.PEEK)")
			}
		}
	}
	return spec, nil
}

// handleNotify serves NOTIFY SET and NOTIFY NONE (RFC 5465 3.1). A
// successful SET replaces the previous one; a failed one leaves it.
func handleNotify(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.NotifyArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	if a.None {
		c.stopNotify()
		return nil
	}
	spec, err := newNotifySpec(a)
	if err != nil {
		return err
	}
	if spec.watches(evMailboxMetadata | evServerMetadata) {
		if _, err := c.metadataUser(); err != nil {
			return errNO("BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)", "This mail store keeps no METADATA")
		}
	}
	c.stopNotify()
	c.startNotify(spec, nil)
	if a.Status {
		// RFC 5465 3.1: with STATUS, a STATUS response for each
		// mailbox the message events watch, before the tagged OK;
		// not the selected one, which its view reports.
		infos, err := c.user.Mailboxes(c.ctx)
		if err != nil {
			return storeError(err)
		}
		facts := &mailboxFacts{list: func() ([]mailstore.MailboxInfo, error) { return infos, nil }}
		for _, mi := range infos {
			if mi.NoSelect || mi.NonExistent || (c.sel != nil && mi.Name == c.sel.name) {
				continue
			}
			if !spec.wants(mi.Name, evMessageNew, facts) && !spec.wants(mi.Name, evFlagChange, facts) {
				continue
			}
			if st, err := c.user.Status(c.ctx, mi.Name); err == nil {
				writeNotifyStatus(c.w, mi.Name, st, c.enabled)
			}
		}
	}
	return nil
}

// watches says whether some group lists one of evs.
func (s *notifySpec) watches(evs notifyEvents) bool {
	for _, g := range s.groups {
		if g.events&evs != 0 {
			return true
		}
	}
	return false
}

// writeNotifyStatus writes the STATUS a message event of a mailbox
// other than the selected one is told as (RFC 5465 5.1-5.3): MESSAGES
// and UIDNEXT and UIDVALIDITY (MessageNew, MessageExpunge), UNSEEN
// (flag changes, as counts change), and with CONDSTORE HIGHESTMODSEQ
// (FlagChange). One set for every event, so that a client sees the
// same line whichever event caused it; coalesced events are one line.
func writeNotifyStatus(w *imapwire.Writer, name string, st mailstore.Status, en enabled) {
	w.Raw("* STATUS ").Mailbox(name).Raw(" (MESSAGES ").Number32(st.Messages).
		Raw(" UIDNEXT ").Number32(st.UIDNext).
		Raw(" UIDVALIDITY ").Number32(st.UIDValidity).
		Raw(" UNSEEN ").Number32(st.Unseen)
	if en.condstore || en.qresync {
		w.Raw(" HIGHESTMODSEQ ").Number(st.HighestModSeq)
	}
	w.Raw(")").CRLF()
}

// writeNotifications writes what evs (pending events of user u, taken
// from a notifyQueue) tell a session with spec whose selected mailbox is
// selected ("" for none): a STATUS per mailbox whose message events the
// spec watches, a LIST per mailbox created, deleted, renamed or
// (un)subscribed (RFC 5465 5.4, 5.5), a METADATA per entry change (5.6,
// 5.7). Message events of the selected mailbox are left to its view.
// The values are the store's at the time of writing, so events
// coalesced into one entry give one line.
func writeNotifications(c ctxUser, spec *notifySpec, selected string, en enabled, evs []notifyEntry, w *imapwire.Writer) {
	facts := &mailboxFacts{list: func() ([]mailstore.MailboxInfo, error) { return c.u.Mailboxes(c.ctx) }}
	for _, e := range evs {
		switch e.kind {
		case mailstore.MessagesAdded, mailstore.FlagsChanged, mailstore.MessagesExpunged:
			if e.mailbox == selected {
				continue
			}
			want := false
			for ev := evMessageNew; ev <= evFlagChange; ev <<= 1 {
				if e.events&ev != 0 && spec.wants(e.mailbox, ev, facts) {
					want = true
				}
			}
			if !want {
				continue
			}
			if st, err := c.u.Status(c.ctx, e.mailbox); err == nil {
				writeNotifyStatus(w, e.mailbox, st, en)
			}
		case mailstore.MailboxCreated:
			if spec.wants(e.mailbox, evMailboxName, facts) {
				w.Raw(`* LIST () "/" `).Mailbox(e.mailbox).CRLF()
			}
		case mailstore.MailboxDeleted:
			if spec.wants(e.mailbox, evMailboxName, facts) {
				w.Raw(`* LIST (\NonExistent) "/" `).Mailbox(e.mailbox).CRLF()
			}
		case mailstore.MailboxRenamed:
			// RFC 5465 5.4: the new name, with the old one in
			// OLDNAME (RFC 9051 7.3.1).
			if spec.wants(e.mailbox, evMailboxName, facts) || spec.wants(e.oldName, evMailboxName, facts) {
				w.Raw(`* LIST () "/" `).Mailbox(e.mailbox).Raw(` ("OLDNAME" (`).Mailbox(e.oldName).Raw("))").CRLF()
			}
		case mailstore.SubscriptionsChanged:
			if !spec.wants(e.mailbox, evSubscriptionChange, facts) {
				continue
			}
			mi, ok := facts.info(e.mailbox)
			if facts.err != nil {
				continue
			}
			attrs := ""
			switch {
			case !ok:
				attrs = `\NonExistent`
			case mi.Subscribed && mi.NonExistent:
				attrs = `\NonExistent \Subscribed`
			case mi.Subscribed:
				attrs = `\Subscribed`
			}
			w.Raw("* LIST (").Raw(attrs).Raw(`) "/" `).Mailbox(e.mailbox).CRLF()
		case mailstore.MetadataChanged:
			ev := evMailboxMetadata
			if e.mailbox == "" {
				ev = evServerMetadata
			}
			if !spec.wants(e.mailbox, ev, facts) {
				continue
			}
			// RFC 5464 4.4.2: the entry names, no values.
			w.Raw("* METADATA ")
			if e.mailbox == "" {
				w.Raw(`""`)
			} else {
				w.Mailbox(e.mailbox)
			}
			for _, name := range e.entries {
				w.SP().AString(name)
			}
			w.CRLF()
		}
	}
}

// notificationOverflow is said when a session's pending events outgrew
// maxNotifyPending; NOTIFY is then off, as after NOTIFY NONE (RFC 5465
// 5.8).
const notificationOverflow = "* OK [NOTIFICATIONOVERFLOW] Too many events, notifications are off\r\n"

// extNotify is the kind of a hibernated session's NOTIFY groups in the
// state blob (hibernate.ExtState), the first that is not imapview's.
const extNotify = hibernate.ExtSession

// appendNotifySpec encodes spec for the state blob: the group count,
// then per group its filter, events and mailbox names (uvarint lengths),
// then, only when the selected group has them, MessageNew's fetch
// attributes (appendFetchItems; a process that predates them finds
// bytes after the groups and refuses the blob rather than resume the
// session without them).
func appendNotifySpec(b []byte, spec *notifySpec) []byte {
	b = binary.AppendUvarint(b, uint64(len(spec.groups)))
	for _, g := range spec.groups {
		b = binary.AppendUvarint(b, uint64(g.filter))
		b = binary.AppendUvarint(b, uint64(g.events))
		b = binary.AppendUvarint(b, uint64(len(g.mailboxes)))
		for _, m := range g.mailboxes {
			b = binary.AppendUvarint(b, uint64(len(m)))
			b = append(b, m...)
		}
	}
	if g := spec.selected(); g != nil && len(g.fetch) > 0 {
		b = appendFetchItems(b, g.fetch)
	}
	return b
}

// errNotifyState says a blob's NOTIFY groups do not decode.
var errNotifyState = errors.New("corrupt NOTIFY state")

// parseNotifySpec decodes appendNotifySpec's bytes.
func parseNotifySpec(data []byte) (*notifySpec, error) {
	next := func() (uint64, error) {
		v, n := binary.Uvarint(data)
		if n <= 0 {
			return 0, errNotifyState
		}
		data = data[n:]
		return v, nil
	}
	n, err := next()
	if err != nil || n > 1000 {
		return nil, errNotifyState
	}
	spec := &notifySpec{groups: make([]notifyGroup, n)}
	for i := range spec.groups {
		g := &spec.groups[i]
		f, err1 := next()
		e, err2 := next()
		m, err3 := next()
		if err := errors.Join(err1, err2, err3); err != nil || f == 0 || f > uint64(filterMailboxes) || e > 0x7f || m > 1000 {
			return nil, errNotifyState
		}
		g.filter, g.events = notifyFilter(f), notifyEvents(e)
		for range m {
			l, err := next()
			if err != nil || l > uint64(len(data)) {
				return nil, errNotifyState
			}
			g.mailboxes = append(g.mailboxes, string(data[:l]))
			data = data[l:]
		}
	}
	if len(data) != 0 {
		g := spec.selected()
		if g == nil || g.events&evMessageNew == 0 {
			return nil, errNotifyState
		}
		if g.fetch, err = parseFetchItems(data); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// notifyOf returns the NOTIFY groups a state blob holds, nil for none.
func notifyOf(st *hibernate.State) (*notifySpec, error) {
	for _, x := range st.ExtState {
		if x.Kind == extNotify {
			spec, err := parseNotifySpec(x.Data)
			if err != nil {
				return nil, fmt.Errorf("state of %s: %w", st.User, err)
			}
			return spec, nil
		}
	}
	return nil, nil
}

// withNotify puts spec into st's extension states (replacing any), or
// takes it out when spec is nil; kinds stay ascending (transport state,
// above extNotify, may be there already).
func withNotify(st *hibernate.State, spec *notifySpec) {
	st.ExtState = slices.DeleteFunc(st.ExtState, func(x hibernate.ExtState) bool { return x.Kind == extNotify })
	if spec != nil {
		i, _ := slices.BinarySearchFunc(st.ExtState, extNotify, func(x hibernate.ExtState, k uint32) int { return cmp.Compare(x.Kind, k) })
		st.ExtState = slices.Insert(st.ExtState, i, hibernate.ExtState{Kind: extNotify, Data: appendNotifySpec(nil, spec)})
	}
}
