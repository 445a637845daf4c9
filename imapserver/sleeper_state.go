package imapserver

import (
	"fmt"
	"time"

	"github.com/dormouse/dormouse/hibernate"
)

// phase is where a sleeper is in the hibernator: it says who may touch
// the sleeper's socket and state blob. An armed sleeper (idling,
// between) has no owner: its descriptor waits in the poller, and the
// poller's callback, a mailbox change, a keepalive, autologout, kick or
// shutdown may take it. In every other phase exactly one goroutine, its
// owner, does, and does its socket I/O without holding h.mu. set is the
// only function that changes a phase; the transitions (docs/design.md,
// "The sleeper's states"):
//
//	from               to                 when
//	-                  idling             sleep: in the table, descriptor armed
//	-                  between            sleep of a quiet session (sleepBetween), or
//	                                      adopt: handed over between commands by the
//	                                      process this one replaced
//	idling, between    owned              the poller's callback (clientReady), a mailbox
//	                                      change (acquire), a keepalive (idling only)
//	idling, between    fired              a mailbox change found the descriptor fired:
//	                                      the callback, on its way, will apply the change
//	fired              ownedDirty         the callback (clientReady)
//	owned              ownedDirty         a mailbox change while owned
//	ownedDirty         owned              the owner takes the change in (finish)
//	owned              idling, between    the owner re-arms the descriptor (finish)
//	owned, ownedDirty  waking, closing    a full wake; a failed write, shutdown (take)
//	idling, between    closing            autologout, kick, shutdown (take)
//	waking             gone               the woken session runs, or was refused
//	closing            gone               its BYE said and the socket closed (end)
//
// waking and closing sleepers have left the table. h.owners counts the
// sleepers with an owner (or, fired, one on its way), from the
// transition that gives them one to the one that ends it, so shutdown
// waits for exactly those.
type phase uint8

const (
	idling     phase = iota // armed, in IDLE; the default, not stored
	between                 // armed, between commands: a DONE was answered asleep, or a quiet session slept
	fired                   // armed but fired, a change pending for the callback
	owned                   // a goroutine serves it in place
	ownedDirty              // owned, and a change came that the owner has yet to apply
	waking                  // out of the table: a full wake restores the session
	closing                 // out of the table: its BYE and close are under way
	gone                    // forgotten; not stored
)

func (p phase) String() string {
	return [...]string{"idling", "between", "fired", "owned", "ownedDirty", "waking", "closing", "gone"}[p]
}

// hasOwner reports whether a sleeper in p has an owner (or one on its way).
func (p phase) hasOwner() bool { return p >= fired && p <= closing }

// transitions holds, per phase, the phases set may move it to.
var transitions = [...][]phase{
	idling:     {owned, fired, closing},
	between:    {owned, fired, closing},
	fired:      {ownedDirty},
	owned:      {ownedDirty, idling, between, waking, closing},
	ownedDirty: {owned, waking, closing},
	waking:     {gone},
	closing:    {gone},
}

// sleeperState is what the hibernator keeps beside the table for a
// sleeper that is not simply idling.
type sleeperState struct {
	phase phase
	// since is when the sleeper began to wait for a command, for
	// autologout: when its IDLE ended with a DONE answered asleep (set
	// on the way to between), or, for a quiet session, when its last
	// command ended (sleepBetween); kept while an owner serves the
	// sleeper, cleared by a new IDLE.
	since time.Time
}

// sleepBetween puts a sleeper just inserted by sleep between commands,
// waiting for one since waiting (h.mu held): a quiet session that
// never was in IDLE.
func (h *hibernator) sleepBetween(tok hibernate.Token, waiting time.Time) {
	h.states[tok] = sleeperState{phase: between, since: waiting}
}

// commandAnswered restarts the autologout of an owned sleeper whose
// command was answered asleep, as a command restarts an awake session's
// idle timer.
func (h *hibernator) commandAnswered(tok hibernate.Token) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st, ok := h.states[tok]; ok {
		st.since = time.Now()
		h.states[tok] = st
	}
}

// phaseOf returns the phase of sleeper tok (h.mu held).
func (h *hibernator) phaseOf(tok hibernate.Token) phase { return h.states[tok].phase }

// set moves sleeper tok to phase to (h.mu held). A transition that the
// table above does not list is a bug in the hibernator, and panics.
func (h *hibernator) set(tok hibernate.Token, to phase) {
	st := h.states[tok]
	from := st.phase
	ok := false
	for _, p := range transitions[from] {
		ok = ok || p == to
	}
	if !ok {
		panic(fmt.Sprintf("imapserver: hibernated connection %#x: no transition from %v to %v", uint64(tok), from, to))
	}
	switch {
	case !from.hasOwner() && to.hasOwner():
		h.owners.Add(1)
	case from.hasOwner() && !to.hasOwner():
		h.owners.Done()
	}
	switch to {
	case idling, gone:
		delete(h.states, tok)
		return
	case between:
		if st.since.IsZero() {
			st.since = time.Now()
		}
	}
	st.phase = to
	h.states[tok] = st
}
