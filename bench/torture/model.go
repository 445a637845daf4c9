package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// key names one stored message: a mailbox and a UID in it. UIDVALIDITY
// never changes in a run (a change is a violation), so it is left out.
type key struct {
	mailbox string
	uid     uint32
}

// model is what the clients know was acknowledged. Messages are told
// apart by their X-Torture-ID header, which never changes, so every
// answer that shows a UID with its ID (APPENDUID, COPYUID, FETCH) can be
// checked against everything seen before: a UID that shows another ID is
// a reused UID.
type model struct {
	mu sync.Mutex
	// seen maps every key ever learned to its message ID.
	seen map[key]string
	// created holds the keys an acknowledged APPEND, COPY, MOVE or LMTP
	// delivery made; dead those an acknowledged EXPUNGE or MOVE removed.
	created, dead map[key]bool
	// lmtp holds each acknowledged delivery's ID and, once a FETCH showed
	// it, its key in INBOX.
	lmtp map[string]*key
	// Operations cut short by a server crash may or may not have taken
	// effect: the IDs they might have created and the keys they might have
	// removed.
	maybeCreated map[string]bool
	maybeDead    map[key]bool
	// modseq is the highest MODSEQ seen for each key; highest that of
	// each mailbox; uidValidity each mailbox's first UIDVALIDITY.
	modseq      map[key]uint64
	highest     map[string]uint64
	uidValidity map[string]uint32

	// recent holds, for each message a FETCH showed with \Recent, the
	// session that was shown it. A SIGKILL forgets claims not written yet,
	// which makes those messages recent again for one session: the map
	// starts over with each life of the server (NewLife).
	recent map[key]int

	// phase counts the checkpoints begun; history tells, per message ID,
	// what happened to it in which phase, for the violation reports.
	phase   int
	history map[string][]string
	start   time.Time

	violations []string
}

func newModel() *model {
	return &model{
		seen: make(map[key]string), created: make(map[key]bool), dead: make(map[key]bool),
		lmtp: make(map[string]*key), maybeCreated: make(map[string]bool), maybeDead: make(map[key]bool),
		modseq: make(map[key]uint64), highest: make(map[string]uint64), uidValidity: make(map[string]uint32),
		recent:  make(map[key]int),
		history: make(map[string][]string), start: time.Now(),
	}
}

// violate records a violation once: a message out of place is seen again
// at every later checkpoint.
func (m *model) violate(format string, args ...any) {
	v := fmt.Sprintf(format, args...)
	if slices.Contains(m.violations, v) {
		return
	}
	m.violations = append(m.violations, v)
}

// note adds to id's history.
func (m *model) note(id, format string, args ...any) {
	m.history[id] = append(m.history[id], fmt.Sprintf("phase %d %v: ", m.phase, time.Since(m.start).Round(time.Millisecond))+fmt.Sprintf(format, args...))
}

// explain returns id's history on one line.
func (m *model) explain(id string) string {
	return "[" + strings.Join(m.history[id], "; ") + "]"
}

// learn records that k holds id; a different ID for a known key is a
// reused UID.
func (m *model) learn(k key, id string) {
	if id == "" {
		return
	}
	if old, ok := m.seen[k]; ok && old != id {
		m.violate("UID reused: %s UID %d held %s, now %s", k.mailbox, k.uid, old, id)
		return
	}
	m.seen[k] = id
	if d := m.lmtp[id]; d == nil {
		if _, ok := m.lmtp[id]; ok && k.mailbox == "INBOX" && !m.created[k] {
			// The first sight of a delivered message: only a COPY of it
			// could share its ID, and a COPY needs its key known first.
			m.lmtp[id] = &k
			m.created[k] = true
		}
	}
}

// Recent records that session was shown k with \Recent: no other session
// may be (RFC 3501 2.3.2; a stress client found "Message UID=25071 has \Recent
// flag in multiple sessions: 16 and 12").
func (m *model) Recent(k key, session int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if owner, ok := m.recent[k]; ok && owner != session {
		m.violate("%s: message UID=%d has \\Recent flag in multiple sessions: %d and %d", k.mailbox, k.uid, owner, session)
		return
	}
	m.recent[k] = session
}

// NewLife starts a new life of the server, after a SIGKILL.
func (m *model) NewLife() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.recent)
}

// Learn is learn under the lock.
func (m *model) Learn(k key, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.learn(k, id)
}

// Created records an acknowledged message at k.
func (m *model) Created(k key, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.learn(k, id)
	m.created[k] = true
	m.note(id, "created at %s %d", k.mailbox, k.uid)
}

// Copied records an acknowledged COPY or MOVE of src UIDs to dst UIDs.
func (m *model) Copied(src, dst string, srcUIDs, dstUIDs []uint32, move bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(srcUIDs) != len(dstUIDs) {
		m.violate("COPYUID with %d source and %d destination UIDs", len(srcUIDs), len(dstUIDs))
		return
	}
	for i, su := range srcUIDs {
		sk, dk := key{src, su}, key{dst, dstUIDs[i]}
		id, ok := m.seen[sk]
		if !ok {
			m.violate("COPYUID names %s UID %d, never seen", src, su)
			continue
		}
		m.learn(dk, id)
		m.created[dk] = true
		if move {
			m.dead[sk] = true
		}
		m.note(id, "copied (move %v) %s %d to %s %d", move, src, su, dst, dstUIDs[i])
	}
}

// Expunged records keys an acknowledged UID EXPUNGE removed.
func (m *model) Expunged(keys []key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		m.dead[k] = true
		m.note(m.seen[k], "expunged %s %d", k.mailbox, k.uid)
	}
}

// Delivered records an acknowledged LMTP delivery of id to INBOX.
func (m *model) Delivered(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.lmtp[id]; !ok {
		m.lmtp[id] = nil
	}
}

// Uncertain records an operation a crash cut short: it may have created
// ids and removed keys.
func (m *model) Uncertain(ids []string, keys []key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		m.maybeCreated[id] = true
		m.note(id, "maybe created by an operation a crash cut short")
	}
	for _, k := range keys {
		m.maybeDead[k] = true
		m.note(m.seen[k], "maybe removed from %s %d by an operation a crash cut short", k.mailbox, k.uid)
	}
}

// Live returns up to n UIDs of mb that were created and not removed, at
// random positions.
func (m *model) Live(mb string, pick func(int) int, n int) []uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var live []uint32
	for k := range m.created {
		if k.mailbox == mb && !m.dead[k] && !m.maybeDead[k] {
			live = append(live, k.uid)
		}
	}
	slices.Sort(live)
	var out []uint32
	for range min(n, len(live)) {
		out = append(out, live[pick(len(live))])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ID returns the message ID of k, if known.
func (m *model) ID(k key) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[k]
}

// CheckStore compares one mailbox as a fresh session sees it (with every
// client quiet) with the model: every acknowledged message there exactly
// once, nothing removed come back, nothing unexplained, no MODSEQ lower
// than before, UIDVALIDITY unchanged. final also checks that every LMTP
// delivery was found.
func (m *model) CheckStore(mb string, uidValidity uint32, highest uint64, msgs []message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.uidValidity[mb]; ok && v != uidValidity {
		m.violate("%s: UIDVALIDITY changed from %d to %d", mb, v, uidValidity)
	}
	m.uidValidity[mb] = uidValidity
	if highest < m.highest[mb] {
		m.violate("%s: HIGHESTMODSEQ went back from %d to %d", mb, m.highest[mb], highest)
	}
	m.highest[mb] = max(m.highest[mb], highest)
	present := make(map[key]bool, len(msgs))
	for _, msg := range msgs {
		k := key{mb, msg.uid}
		if present[k] {
			m.violate("%s: UID %d listed twice", mb, msg.uid)
		}
		present[k] = true
		if msg.id == "" {
			m.violate("%s: UID %d has no X-Torture-ID", mb, msg.uid)
			continue
		}
		m.learn(k, msg.id)
		if msg.modseq < m.modseq[k] {
			m.violate("%s: UID %d MODSEQ went back from %d to %d", mb, msg.uid, m.modseq[k], msg.modseq)
		}
		m.modseq[k] = max(m.modseq[k], msg.modseq)
		switch {
		case m.dead[k] && !m.maybeCreated[msg.id]:
			m.violate("%s: UID %d (%s) was removed and is back %s", mb, msg.uid, msg.id, m.explain(msg.id))
		case !m.created[k] && !m.maybeCreated[msg.id]:
			m.violate("%s: UID %d (%s) is there but no acknowledged operation put it there %s", mb, msg.uid, msg.id, m.explain(msg.id))
		}
		if msg.modseq > highest {
			m.violate("%s: UID %d MODSEQ %d above HIGHESTMODSEQ %d", mb, msg.uid, msg.modseq, highest)
		}
	}
	for k := range m.created {
		if k.mailbox == mb && !m.dead[k] && !m.maybeDead[k] && !present[k] {
			m.violate("%s: UID %d (%s) acknowledged and lost %s", mb, k.uid, m.seen[k], m.explain(m.seen[k]))
		}
	}
}

// CheckDeliveries reports acknowledged LMTP deliveries never found in INBOX.
func (m *model) CheckDeliveries() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, k := range m.lmtp {
		if k == nil {
			m.violate("LMTP delivery %s acknowledged and never found in INBOX", id)
		}
	}
}

// Violations returns the violations so far.
func (m *model) Violations() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.violations)
}

// parseUIDSet expands "1:3,7" into UIDs.
func parseUIDSet(s string) ([]uint32, error) {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("uid set %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil, fmt.Errorf("uid set %q: %w", s, err)
			}
		}
		if a > b {
			a, b = b, a
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out, nil
}

// formatUIDs writes UIDs as a comma-separated set.
func formatUIDs(uids []uint32) string {
	s := make([]string, len(uids))
	for i, u := range uids {
		s[i] = strconv.FormatUint(uint64(u), 10)
	}
	return strings.Join(s, ",")
}
