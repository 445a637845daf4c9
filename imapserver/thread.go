package imapserver

import (
	"cmp"
	"slices"

	"github.com/dormouse/dormouse/imapwire"
)

// handleThread serves THREAD and UID THREAD (RFC 5256 3) with the
// algorithms ORDEREDSUBJECT and REFERENCES (RFC 5256 4) and REFS (as
// Dovecot has it: REFERENCES without merging threads by subject, threads
// ordered by their newest message). The messages are chosen by the same
// search as SEARCH; what threading needs of them comes from their sort
// records (sortrec.go).
func handleThread(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.ThreadArgs)
	if a == nil || a.Key == nil {
		return errBAD("", "Missing thread arguments")
	}
	switch a.Algorithm {
	case "ORDEREDSUBJECT", "REFERENCES", "REFS":
	default:
		return errBAD("", "Unknown threading algorithm "+a.Algorithm)
	}
	res, err := c.searchView(a.Charset, a.Key)
	if err != nil {
		return err
	}
	msgs, err := c.threadMessages(res.hits, a.Algorithm != "ORDEREDSUBJECT")
	if err != nil {
		return err
	}
	var roots []*threadNode
	if a.Algorithm == "ORDEREDSUBJECT" {
		roots = threadBySubject(msgs)
	} else {
		roots = threadByReferences(msgs, a.Algorithm == "REFERENCES")
	}
	w := c.w
	w.Raw("* THREAD")
	if len(roots) > 0 {
		w.SP()
	}
	num := func(seq uint32) uint32 { return seq }
	if cmd.UID {
		num = func(seq uint32) uint32 { return c.sel.view.Messages.UID(int(seq - 1)) }
	}
	for _, r := range roots {
		writeThread(w, r, num)
	}
	w.CRLF()
	return nil
}

// threadNode is a message of a thread tree, or a dummy (seq 0) standing
// for a message that is referenced but not among those threaded (RFC
// 5256 4, "dummy message").
type threadNode struct {
	seq      uint32 // 0 for a dummy
	date     int64  // sent date, INTERNALDATE when the Date is unusable
	subject  string // base subject, i;unicode-casemap form
	reply    bool   // the subject marked a reply or forward
	parent   *threadNode
	children []*threadNode

	// the message's IDs, for REFERENCES step 1
	id         string
	references []string
}

// threadMessages reads what threading needs of each message of seqs
// (ascending) from its sort record. withIDs asks for Message-ID and the
// references too.
func (c *conn) threadMessages(seqs []uint32, withIDs bool) ([]*threadNode, error) {
	v := c.sel.view
	out := make([]*threadNode, len(seqs))
	nodes := make([]threadNode, len(seqs)) // one allocation for all
	want := recFields(1 << recSubject)
	if withIDs {
		want |= 1<<recMessageID | recRefs
	}
	err := c.sortRecs(seqs, func(i int, rv *recView) {
		r, _ := rv.decode(want)
		seq := seqs[i]
		n := &nodes[i]
		n.seq, n.date = seq, int64(v.Messages.At(int(seq-1)).InternalDate)
		if r.hasDate {
			n.date = r.date
		}
		n.subject, n.reply = r.str[recSubject], r.reply
		n.id, n.references = r.str[recMessageID], r.refs
		out[i] = n
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// threadBySubject is ORDEREDSUBJECT (RFC 5256 4): messages with the same
// base subject form a thread; its oldest message (by sent date, then
// sequence number) is the parent of all the others, which are siblings;
// threads are ordered by their first message.
func threadBySubject(msgs []*threadNode) []*threadNode {
	slices.SortFunc(msgs, func(x, y *threadNode) int {
		if d := cmp.Compare(x.subject, y.subject); d != 0 {
			return d
		}
		return compareDate(x, y)
	})
	var roots []*threadNode
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].subject == msgs[i].subject {
			msgs[i].children = append(msgs[i].children, msgs[j])
			j++
		}
		roots = append(roots, msgs[i])
		i = j
	}
	slices.SortFunc(roots, compareDate)
	return roots
}

// compareDate orders by sent date, then sequence number (RFC 5256 4:
// "sorted by sent date"; ties as SORT's, by sequence number).
func compareDate(x, y *threadNode) int {
	if d := cmp.Compare(x.date, y.date); d != 0 {
		return d
	}
	return cmp.Compare(x.seq, y.seq)
}

// threadByReferences is REFERENCES (RFC 5256 4, after Jamie Zawinski's
// algorithm) when bySubject, else REFS: steps 1 to 4 link messages by
// their IDs and drop dummies; REFERENCES then merges the threads whose
// roots have the same base subject (step 5) and orders threads by their
// first message, REFS by their newest one.
func threadByReferences(msgs []*threadNode, bySubject bool) []*threadNode {
	byID := make(map[string]*threadNode, len(msgs))
	var all []*threadNode // every node, in creation order, for step 2
	node := func(id string) *threadNode {
		n := byID[id]
		if n == nil {
			n = &threadNode{id: id}
			byID[id] = n
			all = append(all, n)
		}
		return n
	}
	for _, m := range msgs {
		// (1.B's container) A message takes over the dummy its ID made;
		// a message without ID, or whose ID an earlier message has, gets
		// a unique one (RFC 5256 4 step 1.A: duplicates are treated as
		// unique, the first in sequence order keeps the ID).
		if m.id != "" {
			if d := byID[m.id]; d == nil {
				byID[m.id] = m
				all = append(all, m)
			} else if d.seq == 0 {
				d.seq, d.date, d.subject, d.reply, d.references = m.seq, m.date, m.subject, m.reply, m.references
				m = d
			} else {
				all = append(all, m)
			}
		} else {
			all = append(all, m)
		}
		// (1.A) Link each reference to the next, the earlier one the
		// parent, unless the later has a parent already or the link
		// would make a loop.
		var prev *threadNode
		for _, id := range m.references {
			r := node(id)
			if prev != nil && r.parent == nil && !wouldLoop(prev, r) {
				link(prev, r)
			}
			prev = r
		}
		// (1.B) The last reference is the message's parent, replacing
		// any it had (a truncated References elsewhere), unless that
		// makes a loop; without references it has none.
		if m.parent != nil {
			unlink(m)
		}
		if prev != nil && !wouldLoop(prev, m) {
			link(prev, m)
		}
	}
	// (2) The roots; (3) the ID table is no longer needed.
	var roots []*threadNode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// (4) Prune dummies.
	roots = pruneDummies(roots, true)
	// (6) Order siblings by sent date, youngest generation first, so
	// that a dummy sorts by its (already sorted) first child.
	for _, r := range roots {
		sortChildren(r)
	}
	if bySubject {
		slices.SortFunc(roots, compareRoot)
		roots = mergeBySubject(roots)
		slices.SortFunc(roots, compareRoot)
		return roots
	}
	// REFS: threads by their newest message, as Dovecot orders them.
	newest := make(map[*threadNode]int64, len(roots))
	for _, r := range roots {
		newest[r] = latestDate(r)
	}
	slices.SortFunc(roots, func(x, y *threadNode) int {
		if d := cmp.Compare(newest[x], newest[y]); d != 0 {
			return d
		}
		return cmp.Compare(firstMessage(x).seq, firstMessage(y).seq)
	})
	return roots
}

// maxThreadDepth bounds the ancestors wouldLoop walks: a link below a
// deeper chain is refused as if it made a loop. Real threads are far
// shallower; without a bound, a mailbox of 100,000 messages each
// answering the one before would cost THREAD 10^10 steps.
const maxThreadDepth = 1000

// wouldLoop says whether making parent the parent of child would make a
// loop: whether child is parent or one of its ancestors (RFC 5256 4 step
// 1: no link that would introduce a loop), or whether parent is deeper
// than maxThreadDepth.
func wouldLoop(parent, child *threadNode) bool {
	depth := 0
	for a := parent; a != nil; a = a.parent {
		if a == child || depth >= maxThreadDepth {
			return true
		}
		depth++
	}
	return false
}

func link(parent, child *threadNode) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(child *threadNode) {
	p := child.parent
	if i := slices.Index(p.children, child); i >= 0 {
		p.children = slices.Delete(p.children, i, i+1)
	}
	child.parent = nil
}

// pruneDummies is step 4 over a list of siblings: a dummy without
// children goes; a dummy with children gives way to them, except at the
// root with more than one child (those stay grouped under it).
func pruneDummies(list []*threadNode, root bool) []*threadNode {
	out := list[:0]
	for _, n := range list {
		n.children = pruneDummies(n.children, false)
		switch {
		case n.seq != 0:
			out = append(out, n)
		case len(n.children) == 0:
		case !root || len(n.children) == 1:
			for _, ch := range n.children {
				ch.parent = n.parent
			}
			out = append(out, n.children...)
		default:
			out = append(out, n)
		}
	}
	return out
}

// sortChildren orders n's descendants' sibling lists by sent date,
// deepest first, and gives a dummy the date of its first child.
func sortChildren(n *threadNode) {
	for _, ch := range n.children {
		sortChildren(ch)
	}
	slices.SortFunc(n.children, compareRoot)
}

// firstMessage is n, or for a dummy its first child (RFC 5256 4 steps 5
// and 6: a dummy stands in by its first child).
func firstMessage(n *threadNode) *threadNode {
	for n.seq == 0 && len(n.children) > 0 {
		n = n.children[0]
	}
	return n
}

// compareRoot orders nodes by sent date, a dummy by its first child's.
func compareRoot(x, y *threadNode) int {
	return compareDate(firstMessage(x), firstMessage(y))
}

// latestDate is the newest sent date in n's thread.
func latestDate(n *threadNode) int64 {
	d := n.date
	if n.seq == 0 {
		d = 0
	}
	for _, ch := range n.children {
		d = max(d, latestDate(ch))
	}
	return d
}

// mergeBySubject is REFERENCES step 5: threads whose roots have the same
// base subject are gathered, roots taken in order of date.
func mergeBySubject(roots []*threadNode) []*threadNode {
	// (5.B) The subject table: one root per base subject, preferring a
	// dummy, then a message that is not a reply or forward.
	table := make(map[string]*threadNode)
	for _, r := range roots {
		f := firstMessage(r)
		if f.subject == "" {
			continue
		}
		t := table[f.subject]
		if t == nil || t.seq != 0 && (r.seq == 0 || firstMessage(t).reply && !f.reply) {
			table[f.subject] = r
		}
	}
	// (5.C) Merge each other root with the one in the table.
	var made []*threadNode // new dummies: roots of merged threads
	for _, r := range roots {
		f := firstMessage(r)
		t := table[f.subject]
		if f.subject == "" || t == nil || t == r || r.parent != nil {
			continue // alone, the table's own, or merged already
		}
		switch {
		case t.seq == 0 && r.seq == 0:
			// Both dummies: r's children join t's, r goes.
			for _, ch := range r.children {
				link(t, ch)
			}
			r.children = nil
		case t.seq == 0:
			// A message joins the dummy's children.
			link(t, r)
		case r.seq == 0:
			// Not reached: 5.B prefers a dummy in the table.
			link(r, t)
			table[f.subject] = r
		case f.reply && !t.reply:
			link(t, r)
		default:
			// Both replies, or neither: siblings under a new dummy, which
			// takes the table root's place.
			d := &threadNode{}
			link(d, t)
			link(d, r)
			table[f.subject] = d
			made = append(made, d)
		}
	}
	var out []*threadNode
	for _, r := range append(roots, made...) {
		if r.parent == nil && (r.seq != 0 || len(r.children) > 0) {
			slices.SortFunc(r.children, compareRoot)
			out = append(out, r)
		}
	}
	return out
}

// writeThread writes one thread-list of the THREAD response (RFC 5256 5):
// a chain of only children as numbers, a node with several as a nested
// list each; num gives a message's number (sequence number or UID).
func writeThread(w *imapwire.Writer, n *threadNode, num func(uint32) uint32) {
	w.Raw("(")
	first := true
	for {
		if n.seq != 0 {
			if !first {
				w.SP()
			}
			w.Number32(num(n.seq))
			first = false
		}
		if len(n.children) != 1 {
			break
		}
		n = n.children[0]
	}
	if len(n.children) > 1 {
		if !first {
			w.SP()
		}
		for _, ch := range n.children {
			writeThread(w, ch, num)
		}
	}
	w.Raw(")")
}
