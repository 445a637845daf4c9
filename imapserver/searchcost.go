package imapserver

import (
	"strconv"
	"strings"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapwire"
)

// A SEARCH's cost is its keys times the bytes they read. Without bounds,
// 5,400 copies of BODY zqzqzq over one 10 MB message took ~100 CPU-seconds. So:
//   - a command holds at most maxSearchKeys keys (the parser already bounds
//     their nesting) and at most maxSearchTextKeys different keys that read
//     the message (BODY, TEXT, HEADER, FROM, ...); beyond either it gets
//     NO [LIMIT];
//   - a text key is evaluated once per message however often it appears;
//   - all BODY and TEXT strings of the command are searched in one pass
//     over each message's decoded body;
//   - the work stops when the client leaves (conn.interrupted).
const (
	maxSearchKeys     = 1000
	maxSearchTextKeys = 64
)

// textKey names a key that reads the message: equal keys give equal
// answers for one message.
type textKey struct{ op, field, value string }

// textKeys are the distinct text keys of one SEARCH and, per message,
// the answers found so far.
type textKeys struct {
	keys      int               // all keys of the command, for the limit
	distinct  map[textKey]bool  // the text keys, for the limit
	bodyWords []string          // distinct BODY and TEXT strings
	answers   map[textKey]bool  // this message's answers so far
	inBody    map[string]bool   // this message: bodyWords found in its body
	bodyDone  bool              // inBody is filled for this message
	needles   map[string]string // header key values in search form (FoldSearchString)
	// searcher searches bodies, its buffers kept from one message to
	// the next.
	searcher imapmsg.TextSearcher
}

// readsBody says whether the command has a BODY or TEXT key: its check
// reads the messages' bodies.
func (t *textKeys) readsBody() bool { return len(t.bodyWords) > 0 }

// fork returns textKeys with t's keys and limits (read only from then
// on) and answers and buffers of its own, for a goroutine checking
// messages beside t's (searcher.matchParallel).
func (t *textKeys) fork() textKeys {
	return textKeys{keys: t.keys, distinct: t.distinct, bodyWords: t.bodyWords}
}

// count records k (one node of the key tree) against the limits.
func (t *textKeys) count(k *imapwire.SearchKey) error {
	t.keys++
	if t.keys > maxSearchKeys {
		return errNO("LIMIT", "Too many search keys (at most "+strconv.Itoa(maxSearchKeys)+")")
	}
	switch k.Op {
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER", "BODY", "TEXT":
	default:
		return nil
	}
	key := textKey{k.Op, k.Field, k.Value}
	if t.distinct[key] {
		return nil
	}
	if len(t.distinct) >= maxSearchTextKeys {
		return errNO("LIMIT", "Too many different text search keys (at most "+strconv.Itoa(maxSearchTextKeys)+")")
	}
	if t.distinct == nil {
		t.distinct = make(map[textKey]bool)
	}
	t.distinct[key] = true
	if k.Op == "BODY" || k.Op == "TEXT" {
		seen := false
		for _, w := range t.bodyWords {
			seen = seen || w == k.Value
		}
		if !seen {
			t.bodyWords = append(t.bodyWords, k.Value)
		}
	}
	return nil
}

// reset forgets the answers of the previous message.
func (t *textKeys) reset() {
	clear(t.answers)
	clear(t.inBody)
	t.bodyDone = false
}

// isHeaderKey says whether a text key searches one header field.
func isHeaderKey(op string) bool {
	switch op {
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER":
		return true
	}
	return false
}

// headerField is the header field a header key (isHeaderKey) searches.
func headerField(k *imapwire.SearchKey) string {
	if k.Op == "HEADER" {
		return k.Field
	}
	return strings.ToLower(k.Op)
}

// matchHeader answers header key k (isHeaderKey) over a header block
// (the envelope header a store keeps), each distinct key once per
// message, its value folded once per command.
func (t *textKeys) matchHeader(block []byte, k *imapwire.SearchKey) bool {
	return t.answer(k, func() bool { return imapmsg.HeaderBlockContains(block, headerField(k), t.needle(k.Value)) })
}

// needle is value in search form (imapmsg.FoldSearchString), folded once
// per command.
func (t *textKeys) needle(value string) string {
	needle, ok := t.needles[value]
	if !ok {
		needle = imapmsg.FoldSearchString(value)
		if t.needles == nil {
			t.needles = make(map[string]string)
		}
		t.needles[value] = needle
	}
	return needle
}

// match answers text key k for msg, each distinct key once per message.
func (t *textKeys) match(msg *imapmsg.Message, k *imapwire.SearchKey) bool {
	return t.answer(k, func() bool { return t.find(msg, k) })
}

// answer returns the answer for k kept for this message, or finds it.
func (t *textKeys) answer(k *imapwire.SearchKey, find func() bool) bool {
	key := textKey{k.Op, k.Field, k.Value}
	if ok, done := t.answers[key]; done {
		return ok
	}
	ok := find()
	if t.answers == nil {
		t.answers = make(map[textKey]bool)
	}
	t.answers[key] = ok
	return ok
}

// find searches msg for text key k.
func (t *textKeys) find(msg *imapmsg.Message, k *imapwire.SearchKey) bool {
	var ok bool
	switch k.Op {
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "HEADER":
		ok = msg.HeaderContains(headerField(k), k.Value)
	case "BODY":
		ok = t.body(msg)[k.Value]
	case "TEXT":
		ok = t.searcher.SearchHeader(msg, k.Value) || t.body(msg)[k.Value]
	}
	return ok
}

// body searches msg's body for every BODY and TEXT string at once.
func (t *textKeys) body(msg *imapmsg.Message) map[string]bool {
	if t.bodyDone {
		return t.inBody
	}
	if t.inBody == nil {
		t.inBody = make(map[string]bool, len(t.bodyWords))
	}
	for i, found := range t.searcher.Search(msg, t.bodyWords) {
		t.inBody[t.bodyWords[i]] = found
	}
	t.bodyDone = true
	return t.inBody
}
