package imapview

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// MaxContexts is how many live search contexts (RFC 5267 4.3) a view
// keeps at once. RFC 5267 4.3.1 asks for at least one and more if
// possible; a searching command past the limit is answered, with
// "* NO [NOUPDATE tag]" instead of updates. Each context costs its
// criteria and its result (ranges of UIDs) in the state blob of a
// hibernated session, which is bounded (hibernate.MaxBlob).
const MaxContexts = 8

// Context is a live search context (RFC 5267 4.3): the result of a
// SEARCH or SORT with RETURN (UPDATE), which Apply keeps current with the
// mailbox and whose changes it reports as ADDTO and REMOVEFROM
// (ContextUpdate). It lives in the view, so it ends with it (SELECT,
// EXAMINE, CLOSE, UNSELECT: RFC 5267 4.3) and hibernates with it.
type Context struct {
	// Tag is the searching command's tag, the ESEARCH correlator.
	Tag string
	// UID is set for UID SEARCH and UID SORT: the updates name UIDs, else
	// message numbers (RFC 5267 4.3.2).
	UID bool

	key  *imapwire.SearchKey
	sort []imapwire.SortCriterion // nil for SEARCH: results in mailbox order
	// onFlags is set when the criteria read flags or MODSEQ, the only
	// things that change in a message that stays: otherwise a flag
	// change cannot move a message in or out, and is not looked at.
	onFlags bool
	// result holds the UIDs of the matching messages: ascending for a
	// SEARCH, in the sort order for a SORT.
	result []uint32
}

// NoUpdateError says why a search cannot be kept up to date: its
// criteria name messages by number, "$", "*" or the clock, or the view
// has MaxContexts already. The command is answered, with an
// untagged NO [NOUPDATE] (RFC 5267 4.3.1).
type NoUpdateError struct{ Reason string }

func (e *NoUpdateError) Error() string { return "no update: " + e.Reason }

// ErrTagInUse says a live context already has the tag: RFC 5267 4.3
// wants the searching command rejected with BAD.
var ErrTagInUse = errors.New("tag in use by a search context")

// errNeedsEval says a view without a ContextEval (asleep) cannot apply a
// change to a context: a candidate's match depends on its content, or a
// new member of a sorted context must be placed by sort keys. The
// sleeper is woken to apply it.
var errNeedsEval = errors.New("a search context needs the session")

// NewContext returns the context of a searching command: its tag, UID
// form, criteria and, for SORT, sort keys, and its result now (UIDs,
// ascending for SEARCH, in the sort order for SORT). Criteria that name
// messages by what changes with the mailbox (message numbers, "$", a UID
// set with "*") or with the clock (OLDER, YOUNGER) cannot be kept up to
// date: a NoUpdateError. The keys a record answers (flags, sizes,
// dates, MODSEQ, UIDs) are evaluated here, awake or asleep; the others
// (header and body text, sent dates, EMAILID) and the sort order need
// the session's ContextEval, so an asleep view that meets a change they
// must decide is woken (View.Apply).
func NewContext(tag string, uid bool, key *imapwire.SearchKey, sort []imapwire.SortCriterion, result []uint32) (*Context, error) {
	if why := notUpdatable(key); why != "" {
		return nil, &NoUpdateError{Reason: why}
	}
	c := &Context{Tag: tag, UID: uid, key: key, onFlags: readsFlags(key), result: slices.Clone(result)}
	if sort != nil {
		c.sort = slices.Clone(sort)
	}
	return c, nil
}

// Key returns the context's search criteria.
func (c *Context) Key() *imapwire.SearchKey { return c.key }

// Sort returns the context's sort keys, nil for a SEARCH context.
func (c *Context) Sort() []imapwire.SortCriterion { return c.sort }

// ContextEval answers for an awake view what a record cannot: its
// session's search and sort (imapserver), over the view as it is after
// the change being applied.
type ContextEval interface {
	// Match evaluates c's criteria on message uid of the view.
	Match(c *Context, uid uint32) (bool, error)
	// Order returns uids, messages of the view, in c's sort order.
	Order(c *Context, uids []uint32) ([]uint32, error)
}

// notUpdatable returns why k cannot be kept up to date, or "".
func notUpdatable(k *imapwire.SearchKey) string {
	switch k.Op {
	case "AND", "OR", "NOT":
		for _, ch := range k.Children {
			if why := notUpdatable(ch); why != "" {
				return why
			}
		}
		return ""
	case "UID":
		if k.Set == nil || k.Set.Saved || k.Set.Dynamic() {
			return "A UID set with $ or * changes with the mailbox"
		}
		return ""
	case "SEQSET":
		return "Message numbers in the criteria change with the mailbox"
	case "OLDER", "YOUNGER":
		return "Search key " + k.Op + " changes with the clock"
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER", "BODY", "TEXT",
		"SENTBEFORE", "SENTON", "SENTSINCE", "EMAILID", "THREADID":
		return "" // the message's content, which does not change
	}
	if _, known := MatchRecord(k, &mailstore.Message{}, false); !known {
		return "Search key " + k.Op + " cannot be kept up to date"
	}
	return ""
}

// readsFlags reports whether k reads a message's flags or MODSEQ.
func readsFlags(k *imapwire.SearchKey) bool {
	switch k.Op {
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "UNANSWERED", "UNDELETED",
		"UNDRAFT", "UNFLAGGED", "UNSEEN", "KEYWORD", "UNKEYWORD", "NEW", "MODSEQ":
		return true
	}
	return slices.ContainsFunc(k.Children, readsFlags)
}

// AddContext makes c live in v. It fails with ErrTagInUse when a context
// has c's tag, and with a NoUpdateError when v has MaxContexts.
func (v *View) AddContext(c *Context) error {
	if v.context(c.Tag) >= 0 {
		return ErrTagInUse
	}
	if len(v.contexts) >= MaxContexts {
		return &NoUpdateError{Reason: fmt.Sprintf("Too many search contexts (at most %d)", MaxContexts)}
	}
	v.contexts = append(v.contexts, c)
	return nil
}

// HasContext reports whether a live context has tag.
func (v *View) HasContext(tag string) bool { return v.context(tag) >= 0 }

// CancelContexts ends the contexts of tags (CANCELUPDATE, RFC 5267
// 4.3.5), all or none: it returns the first tag that names none.
func (v *View) CancelContexts(tags []string) (unknown string, ok bool) {
	for _, t := range tags {
		if v.context(t) < 0 {
			return t, false
		}
	}
	v.contexts = slices.DeleteFunc(v.contexts, func(c *Context) bool { return slices.Contains(tags, c.Tag) })
	if len(v.contexts) == 0 {
		v.contexts = nil
	}
	return "", true
}

func (v *View) context(tag string) int {
	return slices.IndexFunc(v.contexts, func(c *Context) bool { return c.Tag == tag })
}

// ContextUpdate is what a change did to one context's result, as
// ESEARCH (TAG "tag") [UID] REMOVEFROM / ADDTO data items (RFC 5267
// 4.3.2-4.3.4). Numbers are UIDs or message numbers as Context.UID says.
type ContextUpdate struct {
	Tag string
	UID bool
	// Expunged are the members expunged, in the numbering before the
	// change: their REMOVEFROM goes before the expunge notification
	// (RFC 5267 4.3.4), so that the numbers are still valid.
	Expunged []Position
	// Removed are members whose flags no longer match and Added new or
	// changed messages that now match, in the numbering after the
	// change: the ADDTO goes after EXISTS (RFC 5267 4.3.3).
	Removed, Added []Position
}

// Position is one pair of ADDTO or REMOVEFROM: a context position (1 is
// the first result; 0 in a SEARCH context, where the result is in
// mailbox order, RFC 5267 4.3.3) and a message.
type Position struct {
	At  uint32
	Num uint32
}

// empty reports whether the change left the context's result as it was.
func (u *ContextUpdate) empty() bool {
	return len(u.Expunged) == 0 && len(u.Removed) == 0 && len(u.Added) == 0
}

// contextsNeedEval reports whether applying ch to the view's contexts
// needs a ContextEval: a candidate (a new message, or a changed one of
// the view) whose match a record does not decide, or a new member of a
// sorted context, which must be placed among the others by their sort
// keys. Members leaving are placed by the result alone.
func (v *View) contextsNeedEval(ch mailstore.Changes) bool {
	for _, c := range v.contexts {
		members := c.members()
		for i := range ch.Changed {
			m := &ch.Changed[i]
			if m.UID >= v.UIDNext {
				// Whether it is \Recent is decided by the claim to come.
				for _, recent := range []bool{false, true} {
					if match, known := matchKey(c.key, m, recent); !known || match && c.sort != nil {
						return true
					}
				}
				continue
			}
			if !c.onFlags || v.SeqOf(m.UID) == 0 {
				continue
			}
			if match, known := matchKey(c.key, m, v.IsRecent(m.UID)); !known || match && c.sort != nil && !hasUID(members, m.UID) {
				return true
			}
		}
	}
	return false
}

// applyContexts brings the contexts up to date with a change Apply has
// made to the view: expunged are the UIDs removed (ascending) with their
// old sequence numbers (oldSeqs, same order), changed the kept messages
// whose records changed (ascending), added the new ones. The view is
// already updated (records, \Recent, numbering). What records do not
// decide, v.Eval does (contextsNeedEval said whether it is needed). The
// cost is a pass over each result, not one per message changed.
func (v *View) applyContexts(expunged, oldSeqs []uint32, changed []Fetch, added []mailstore.Message) ([]ContextUpdate, error) {
	var out []ContextUpdate
	for _, c := range v.contexts {
		u := ContextUpdate{Tag: c.Tag, UID: c.UID}
		members := c.members()
		var gone, goneNums []uint32
		for i, uid := range expunged {
			if hasUID(members, uid) {
				gone, goneNums = append(gone, uid), append(goneNums, c.num(uid, oldSeqs[i]))
			}
		}
		if u.Expunged = c.removeAll(gone, goneNums); len(gone) > 0 {
			members = c.members() // removeAll may reuse the result's array
		}
		var leave, leaveNums, join []uint32
		for i := range changed {
			if !c.onFlags {
				break // a kept message's change cannot move it
			}
			m := &changed[i].Msg
			match, err := v.contextMatch(c, m)
			if err != nil {
				return nil, err
			}
			switch member := hasUID(members, m.UID); {
			case match && !member:
				join = append(join, m.UID)
			case !match && member:
				leave, leaveNums = append(leave, m.UID), append(leaveNums, c.num(m.UID, changed[i].Seq))
			}
		}
		u.Removed = c.removeAll(leave, leaveNums)
		for i := range added {
			match, err := v.contextMatch(c, &added[i])
			if err != nil {
				return nil, err
			}
			if match {
				join = append(join, added[i].UID)
			}
		}
		if len(join) > 0 {
			var err error
			if u.Added, err = v.join(c, join); err != nil {
				return nil, err
			}
		}
		if !u.empty() {
			out = append(out, u)
		}
	}
	return out, nil
}

// contextMatch decides whether m, a message of the view, matches c: by
// its record when that decides, else by v.Eval.
func (v *View) contextMatch(c *Context, m *mailstore.Message) (bool, error) {
	if match, known := matchKey(c.key, m, v.IsRecent(m.UID)); known {
		return match, nil
	}
	if v.Eval == nil {
		return false, fmt.Errorf("search context %q: %w", c.Tag, errNeedsEval)
	}
	return v.Eval.Match(c, m.UID)
}

// join adds the UIDs of uids (ascending) to c's result and returns their
// ADDTO pairs: position 0 in a SEARCH context; in a SORT context the
// positions in the sort order, each valid once the pairs before it are
// applied (RFC 5267 4.3.2), which inserting in the final order gives.
func (v *View) join(c *Context, uids []uint32) ([]Position, error) {
	out := make([]Position, 0, len(uids))
	if c.sort == nil {
		for _, uid := range uids {
			out = append(out, Position{Num: c.num(uid, v.SeqOf(uid))})
		}
		c.result = unionUIDs(c.result, uids)
		return out, nil
	}
	if v.Eval == nil {
		return nil, fmt.Errorf("search context %q: %w", c.Tag, errNeedsEval)
	}
	order, err := v.Eval.Order(c, unionUIDs(c.members(), uids))
	if err != nil {
		return nil, err
	}
	for i, uid := range order {
		if hasUID(uids, uid) {
			out = append(out, Position{At: uint32(i + 1), Num: c.num(uid, v.SeqOf(uid))})
		}
	}
	c.result = order
	return out, nil
}

// num is the number a context's client knows a message by.
func (c *Context) num(uid, seq uint32) uint32 {
	if c.UID {
		return uid
	}
	return seq
}

// members returns the UIDs of c's result, ascending: the result itself
// for a SEARCH context, a sorted copy for a SORT context.
func (c *Context) members() []uint32 {
	if c.sort == nil {
		return c.result
	}
	m := slices.Clone(c.result)
	slices.Sort(m)
	return m
}

// removeAll takes uids (ascending, members) out of c's result and
// returns their REMOVEFROM pairs, nums being the numbers the client knows
// them by: position 0 in a SEARCH context; in a SORT context each one's
// position once the pairs before it are applied, in the result's order.
func (c *Context) removeAll(uids, nums []uint32) []Position {
	if len(uids) == 0 {
		return nil
	}
	out := make([]Position, 0, len(uids))
	if c.sort == nil {
		for _, n := range nums {
			out = append(out, Position{Num: n})
		}
		c.result = removeUIDs(c.result, uids)
		return out
	}
	kept := make([]uint32, 0, len(c.result)-len(uids))
	for i, uid := range c.result {
		if j, ok := slices.BinarySearch(uids, uid); ok {
			out = append(out, Position{At: uint32(i - len(out) + 1), Num: nums[j]})
			continue
		}
		kept = append(kept, uid)
	}
	c.result = kept
	return out
}

// hasUID reports whether uids (ascending) holds uid.
func hasUID(uids []uint32, uid uint32) bool {
	_, ok := slices.BinarySearch(uids, uid)
	return ok
}

// unionUIDs returns the UIDs of a and b (each ascending, disjoint),
// ascending, in one pass.
func unionUIDs(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i] < b[j] {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// matchKey evaluates a context's criteria on a message record, in three
// values: known is false when the answer depends on keys a record does
// not answer (header and body text, sent dates, EMAILID).
func matchKey(k *imapwire.SearchKey, m *mailstore.Message, recent bool) (match, known bool) {
	switch k.Op {
	case "AND":
		known = true
		for _, ch := range k.Children {
			cm, ck := matchKey(ch, m, recent)
			if ck && !cm {
				return false, true
			}
			known = known && ck
		}
		return known, known
	case "OR":
		if len(k.Children) != 2 {
			return false, true
		}
		am, ak := matchKey(k.Children[0], m, recent)
		bm, bk := matchKey(k.Children[1], m, recent)
		if ak && am || bk && bm {
			return true, true
		}
		return false, ak && bk
	case "NOT":
		if len(k.Children) != 1 {
			return false, true
		}
		cm, ck := matchKey(k.Children[0], m, recent)
		return !cm && ck, ck
	case "UID":
		return k.Set != nil && k.Set.Contains(m.UID, 0), true
	}
	return MatchRecord(k, m, recent)
}

// MatchRecord evaluates a search key that a message record answers alone
// (RFC 9051 6.4.4): flags, keywords, \Recent (recent says whether m is
// recent in the view), sizes, INTERNALDATE and SAVEDATE (RFC 8514), and
// MODSEQ (RFC 7162). known is false for every other key. SEARCH and the
// live contexts both evaluate these keys here.
func MatchRecord(k *imapwire.SearchKey, m *mailstore.Message, recent bool) (match, known bool) {
	switch k.Op {
	case "ALL":
		return true, true
	case "ANSWERED":
		return HasFlag(m.Flags, `\Answered`), true
	case "DELETED":
		return HasFlag(m.Flags, `\Deleted`), true
	case "DRAFT":
		return HasFlag(m.Flags, `\Draft`), true
	case "FLAGGED":
		return HasFlag(m.Flags, `\Flagged`), true
	case "SEEN":
		return HasFlag(m.Flags, `\Seen`), true
	case "UNANSWERED":
		return !HasFlag(m.Flags, `\Answered`), true
	case "UNDELETED":
		return !HasFlag(m.Flags, `\Deleted`), true
	case "UNDRAFT":
		return !HasFlag(m.Flags, `\Draft`), true
	case "UNFLAGGED":
		return !HasFlag(m.Flags, `\Flagged`), true
	case "UNSEEN":
		return !HasFlag(m.Flags, `\Seen`), true
	case "KEYWORD":
		return HasFlag(m.Flags, k.Field), true
	case "UNKEYWORD":
		return !HasFlag(m.Flags, k.Field), true
	case "RECENT":
		return recent, true
	case "NEW":
		return recent && !HasFlag(m.Flags, `\Seen`), true
	case "OLD":
		return !recent, true
	case "LARGER":
		return uint64(m.Size) > k.Number, true
	case "SMALLER":
		return uint64(m.Size) < k.Number, true
	case "BEFORE":
		return Day(m.InternalDate.Time()).Before(k.Date), true
	case "ON":
		return Day(m.InternalDate.Time()).Equal(k.Date), true
	case "SINCE":
		return !Day(m.InternalDate.Time()).Before(k.Date), true
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		// RFC 8514 4: messages without a save date never match.
		if m.SaveDate == 0 {
			return false, true
		}
		d := Day(m.SaveDate.Time())
		switch k.Op {
		case "SAVEDBEFORE":
			return d.Before(k.Date), true
		case "SAVEDON":
			return d.Equal(k.Date), true
		}
		return !d.Before(k.Date), true
	case "SAVEDATESUPPORTED":
		return true, true
	case "MODSEQ":
		return m.ModSeq >= k.Number, true
	}
	return false, false
}

// HasFlag reports whether flags holds f; flags compare without regard
// to case (RFC 9051 2.3.2).
func HasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// Day returns the calendar day of t (in its own zone, as RFC 9051 6.4.4
// says dates disregard time and timezone) as midnight UTC, as search
// keys hold their dates.
func Day(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}
