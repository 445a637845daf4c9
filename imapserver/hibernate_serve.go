package imapserver

import (
	"bytes"
	"errors"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/internal/tls13rec"
	"github.com/dormouse/dormouse/mailstore"
)

// reidleRead is how much a sleeper reads when its client speaks: a DONE
// and a new IDLE fit many times over; anything longer is a command for a
// full wake anyway, and the rest stays in the socket for it.
const reidleRead = 512

// blobScratch is room for a sleeper's state blob on its owner's stack:
// the blob serve and finish encode is only for the moment, since the
// Table copies what it stores, and most blobs fit
// (a TLS 1.3 + COMPRESS sleeper's is a few hundred bytes; a larger one
// is encoded on the heap as before).
const blobScratch = 512

// serveCause is why a sleeper's owner serves it.
type serveCause uint8

const (
	serveChange    serveCause = iota // a change of its mailbox
	serveClient                      // its client sent bytes (or closed)
	serveKeepalive                   // its keepalive is due
	serveNotify                      // NOTIFY events of other mailboxes wait
)

// serve answers a sleeper without waking it: the client's DONE and new
// IDLE, together or apart (serveClient, see answerAsleep), its keepalive,
// and mailbox changes, which are sent as the untagged updates an active
// IDLE would send, and held back between a DONE and the next IDLE. It
// runs on the goroutine that owns tok (acquire, clientReady) and ends
// with the sleeper re-armed, or handed to a full wake whenever the
// answer cannot be given exactly in place. src, when set, is the mailbox
// source shared by a mailboxChanged batch.
func (h *hibernator) serve(tok hibernate.Token, why serveCause, src changeReader) {
	s, st, err := h.owned(tok)
	if err != nil {
		h.srv.log.Error("hibernated state", "err", err)
		h.fullWake(tok, sleeper{}, wakeClient, nil, nil, nil)
		return
	}
	nf := h.notifierOf(tok)
	store, _ := src.(*changeSource)
	if src == nil {
		// Opened only if a change must be applied.
		store = newChangeSource(h.srv.cfg.Store, st.User, mailstore.CanonicalName(st.Mailbox), h.memoOf(tok))
		defer store.close()
		src = store
	}
	m := h.srv.cfg.Metrics
	var blobBuf [blobScratch]byte
	var blob []byte  // the new state, once something was sent (in blobBuf)
	catchUp := false // an IDLE after a DONE answered asleep: send what was held back
	switch why {
	case serveKeepalive:
		n, err := s.write(s.wire([]byte(lineStillHere)))
		m.wrote(n)
		if err != nil {
			// The client is gone or not reading: drop it, as an
			// active IDLE does after a failed write.
			h.drop(tok, s)
			return
		}
		// Until the client's next IDLE, a wake it causes answers this
		// keepalive (Thunderbird: DONE, NOOP, UID FETCH, IDLE).
		h.markKeepalive(tok, true)
	case serveClient:
		var buf [reidleRead]byte
		// Input held for its rest is read again first, from the
		// stored state (hibernate_held.go).
		held := h.takeHeld(tok)
		pre := 0
		var seq uint64
		if s.rec != nil {
			seq = s.rec.st.ReadSeq
			s.rec.in, s.rec.raw = held, append([]byte(nil), held...)
		} else {
			pre = copy(buf[:], held)
		}
		k, rerr := s.read(buf[pre:])
		n := pre + k
		switch {
		case errors.Is(rerr, errWouldBlock):
			// Nothing after all: back to sleep, with what was held.
			h.hold(tok, held)
			if s.rec != nil {
				s.rec.in, s.rec.raw = nil, nil
			}
		case errors.Is(rerr, errRecordWake) && h.holdRest(tok, s, seq, nil, tls13rec.Partial(s.rec.in)):
			// The start of a record: its rest is awaited asleep.
			if st, err = h.storedState(tok); err != nil {
				h.srv.log.Error("hibernated state", "err", err)
				h.fullWake(tok, s, wakeClient, nil, nil, nil)
				return
			}
		case errors.Is(rerr, errRecordWake):
			// A KeyUpdate, a warning alert, a record too long to
			// await: the woken session's record layer takes it.
			m.wokeBy("tls_record")
			h.fullWake(tok, s, wakeClient, nil, nil, nil)
			return
		case errors.Is(rerr, errClosedNotify):
			h.closedByClient(tok, s, closedNotify)
			return
		case rerr != nil:
			h.closedByClient(tok, s, closedError)
			return
		case k == 0:
			h.closedByClient(tok, s, closedEOF)
			return
		default:
			// What came with this read is read too: a client's
			// commands (DONE, then NOOP) or its compressed flush may
			// span TLS records that arrived together, and a record
			// left unread would force a full wake.
			for n < len(buf) && s.pending() {
				k, err := s.read(buf[n:])
				if err != nil || k == 0 {
					break
				}
				n += k
			}
			in := buf[:n]
			text, ok, short := in, true, false
			if s.deflate {
				// A full wake reads in with the stored window again.
				text, ok, short = inflateSleeper(st, in)
			}
			decoded := ok
			var a asleepAnswer
			if ok {
				a, ok = answerAsleep(st.IdleTag, st.Mailbox, enabledOf(st.Enabled), text)
			}
			// Part of a line (or of its compressed flush, or of the
			// TLS record it is in) whose rest the socket will bring:
			// held for it, asleep. A whole line is acted on at once,
			// as an awake session would.
			recordCut := s.rec != nil && tls13rec.Partial(s.rec.in)
			cut := (short || recordCut || (decoded && !ok)) && !bytes.ContainsRune(text, '\n')
			if cut && (!s.pending() || recordCut) && h.holdRest(tok, s, seq, in, true) {
				if st, err = h.storedState(tok); err != nil {
					h.srv.log.Error("hibernated state", "err", err)
					h.fullWake(tok, s, wakeClient, nil, nil, nil)
					return
				}
				break
			}
			m.read(n)
			// More input buffered inside a tls.Conn (a further record
			// read with this one), or raw input a TLS 1.3 sleeper read
			// but did not open, is invisible to the poller: the woken
			// session reads it.
			if !ok || s.pending() {
				h.wokeBy(tok, wakeCommand(st.IdleTag, text))
				h.fullWake(tok, s, wakeClient, in, nil, nil)
				return
			}
			idleTag := st.IdleTag
			ended := idleTag != ""
			st.IdleTag = a.idleTag
			out := a.out
			var up, lines []byte // a command's updates and its own responses
			if a.quota {
				// GETQUOTAROOT reads the quota before the updates, as
				// an awake session does (handler, then sendUpdates);
				// if it cannot, nothing is spent yet for a full wake.
				var ok bool
				if lines, ok = quotaRootAsleep(st, store); !ok {
					h.wokeBy(tok, wakeCommand(idleTag, text))
					h.fullWake(tok, s, wakeClient, in, nil, nil)
					return
				}
			}
			if a.done != nil {
				// NOOP or CHECK: what changed since, as an awake
				// session's refresh after the command tells it, then
				// its tagged OK.
				var next *hibernate.State
				up, next, ok = applyChanges(st, src)
				if !ok {
					h.wokeBy(tok, wakeCommand(idleTag, text))
					h.fullWake(tok, s, wakeClient, in, nil, nil)
					return
				}
				if next != nil {
					st = next
				}
			}
			fetched := true
			switch {
			case a.fetch != nil:
				// UID FETCH: its responses after the updates (the
				// awake catchUp), from st with them applied.
				lines, fetched = fetchAsleep(st, a.fetch, store)
				out = append(append(out, up...), lines...)
			case a.quota:
				// GETQUOTAROOT: the updates follow its responses (exec's
				// sendUpdates).
				out = append(append(out, lines...), up...)
			default:
				out = append(out, up...)
				if nf.q != nil {
					// NOTIFY's other mailboxes, as exec tells them
					// before the tagged OK.
					more, next := h.sleeperNotifications(st, nf.q)
					out = append(out, more...)
					if next != nil {
						st, nf = next, sleeperNotify{}
						h.forgetNotifier(tok)
					}
				}
			}
			if blob, err = st.AppendBinary(blobBuf[:0]); !fetched || err != nil || len(blob) > hibernate.MaxBlob {
				h.wokeBy(tok, wakeCommand(idleTag, text))
				switch {
				case a.done == nil:
					h.fullWake(tok, s, wakeClient, in, nil, nil)
				case !fetched:
					// Nothing was sent, but a \Recent claim may be
					// spent: the woken session starts from st, writes
					// what is owed (the updates), and runs the UID
					// FETCH, which has only its own responses to add. A
					// compressed one reads the command as text, then
					// the stream after in (st's inflater state is
					// after it).
					h.fullWake(tok, s, wakeClient, a.cmd, s.wire(out), st)
				default:
					// Answered in full, but the state is too big to
					// stay asleep: the woken session writes the answer
					// and reads the next command.
					m.command(a.name, "ok")
					h.fullWake(tok, s, wakeClient, nil, s.wire(append(out, a.done...)), st)
				}
				return
			}
			out = append(out, a.done...)
			if !h.send(tok, s, out, st, wakeClient) {
				return
			}
			if ended {
				m.command("IDLE", "ok")
			}
			if a.done != nil {
				m.command(a.name, "ok")
				m.served(servedCommand)
				h.commandAnswered(tok)
			} else {
				catchUp = !ended && a.idleTag != ""
				m.served(servedReidle)
			}
			if a.idleTag != "" {
				h.markKeepalive(tok, false) // back in IDLE
			}
		}
	}
	for pending := why == serveChange || catchUp; ; pending = true {
		// Between commands an active session holds changes back for
		// the next command; so does a sleeper, until a new IDLE, but
		// for one whose NOTIFY SELECTED pushes them at once.
		if pending && (st.IdleTag != "" || nf.pushSelected) {
			out, next, ok := applyChanges(st, src)
			if !ok {
				h.fullWake(tok, s, wakeMailbox, nil, nil, st)
				return
			}
			if catchUp {
				// The start of a new IDLE: after its updates, the
				// count again if the client may have missed it
				// (reannounce.go).
				catchUp = false
				cur := st
				if next != nil {
					cur = next
				}
				if line, n := imapview.ExistsAgain(cur); n != nil {
					out, next = append(out, line...), n
				}
			}
			if next != nil {
				if blob, err = next.AppendBinary(blobBuf[:0]); err != nil || len(blob) > hibernate.MaxBlob {
					// Too many holes in S to stay asleep. A \Recent
					// claim may be spent: the woken session starts
					// from next, and sends out first.
					h.fullWake(tok, s, wakeMailbox, nil, s.wire(out), next)
					return
				}
				st = next
			}
			if len(out) > 0 {
				if !h.send(tok, s, out, st, wakeMailbox) {
					return
				}
				m.served(servedUpdate)
				m.toldSleeper(src.changedAt())
			}
		}
		if nf.q != nil {
			// NOTIFY's other mailboxes: pushed at any time (RFC 5465
			// 1), between commands too.
			out, next := h.sleeperNotifications(st, nf.q)
			if next != nil {
				st, nf = next, sleeperNotify{}
				h.forgetNotifier(tok)
				if blob, err = st.AppendBinary(blobBuf[:0]); err != nil {
					h.fullWake(tok, s, wakeMailbox, nil, s.wire(out), st)
					return
				}
			}
			if len(out) > 0 {
				if !h.send(tok, s, out, st, wakeMailbox) {
					return
				}
				m.served(servedNotify)
			}
		}
		if !h.finish(tok, s, st, blob) {
			return
		}
		// Another change came meanwhile: the source's cached answers
		// (or the early event) are out of date; read it in the store.
		blob = nil
		if store == nil {
			store = newChangeSource(h.srv.cfg.Store, st.User, mailstore.CanonicalName(st.Mailbox), h.memoOf(tok))
			defer store.close()
		}
		store.forget()
		src = store
	}
}

// markKeepalive marks sleeper tok as answering a keepalive, or not
// (hibernate.Table.SetAfterKeepalive).
func (h *hibernator) markKeepalive(tok hibernate.Token, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.table.SetAfterKeepalive(tok, on); err != nil {
		h.srv.log.Error("hibernate", "err", err)
	}
}

// wokeBy counts a full wake of sleeper tok decided on its client's input,
// by command (wakeCommand), and also as a keepalive's when the input came
// between a keepalive and the client's next IDLE. Called before the wake
// takes the sleeper out of the table.
func (h *hibernator) wokeBy(tok hibernate.Token, command string) {
	h.mu.Lock()
	info, err := h.table.Lookup(tok)
	h.mu.Unlock()
	m := h.srv.cfg.Metrics
	m.wokeBy(command)
	if err == nil && info.AfterKeepalive {
		m.keepaliveWake(command)
	}
}

// owned returns the transport and state of a sleeper the caller owns,
// decoding its blob once (outside h.mu).
func (h *hibernator) owned(tok hibernate.Token) (sleeper, *hibernate.State, error) {
	h.mu.Lock()
	info, err := h.table.Lookup(tok)
	var blob []byte
	tc := h.tls[tok]
	if err == nil {
		blob, err = h.table.AppendBlob(nil, tok)
	}
	h.mu.Unlock()
	if err != nil {
		return sleeper{fd: -1}, nil, err
	}
	st := new(hibernate.State)
	if err := st.UnmarshalBinary(blob); err != nil {
		return sleeper{fd: -1}, nil, err
	}
	rec, err := recordOf(st)
	if err != nil {
		return sleeper{fd: -1}, nil, err
	}
	return sleeper{fd: info.FD, tc: tc, rec: rec, deflate: compressed(st)}, st, nil
}

// send writes a sleeper's answer to its socket without blocking (for
// long, for TLS). When a bare socket does not take it all, the rest goes
// to a full wake with st, the state after the answer: the woken session
// writes it first, then goes on as an active one, which blocks on a full
// socket (and ends after a failed write) as usual. A TLS write that
// failed cannot be finished (the tls.Conn's record state is broken): the
// connection is dropped, as an active IDLE is after a failed write.
// False means the sleeper was handed on or dropped.
func (h *hibernator) send(tok hibernate.Token, s sleeper, out []byte, st *hibernate.State, cause string) bool {
	out = s.wire(out)
	n, err := s.write(out)
	h.srv.cfg.Metrics.wrote(n)
	if err == nil {
		return true
	}
	if s.finalWrites() {
		h.drop(tok, s)
		return false
	}
	h.fullWake(tok, s, cause, nil, out[n:], st)
	return false
}

// closedByClient ends the connection of an owned sleeper, s, whose
// client closed it (how: end of file, a TLS close_notify or error alert,
// a read error). It is a close, not a wake: a sleeper has no command in
// flight and owes nothing, so restoring its session would only end it
// (with the session's buffers, and the user's index opened for it). A
// TLS 1.3 sleeper answers a close_notify with its own (RFC 8446 6.1),
// without waiting for the client to take it.
func (h *hibernator) closedByClient(tok hibernate.Token, s sleeper, how string) {
	h.srv.cfg.Metrics.closed(how)
	if how == closedNotify && s.rec != nil {
		if out, err := s.rec.st.CloseNotify(nil); err == nil {
			hibernate.WriteFDN(s.fd, out)
		}
	}
	h.drop(tok, s)
}

// drop ends the connection of an owned sleeper, s, after a failed write.
func (h *hibernator) drop(tok hibernate.Token, s sleeper) {
	h.mu.Lock()
	_, _, _, err := h.take(tok, closing)
	h.mu.Unlock()
	if err == nil {
		h.end(tok, s, "")
	}
}

// finish ends one round of serve: it stores st as the sleeper's state
// when blob, its encoding, is not nil (or, for a TLS 1.3 sleeper, always,
// with the owner's record state, encoded over blob) and re-arms its descriptor, idling or
// between commands as st says, unless a mailbox change came meanwhile
// (true: the caller applies it and calls finish again). At shutdown it
// says BYE and closes the connection instead; during a handover it
// passes it on.
func (h *hibernator) finish(tok hibernate.Token, s sleeper, st *hibernate.State, blob []byte) bool {
	betweenCommands := st.IdleTag == ""
	if s.rec != nil {
		// The owner's record state is the current one: the stored
		// blob carries it (its sequence numbers moved on). st is the
		// stored state when blob is nil.
		var buf [blobScratch]byte
		if blob == nil {
			blob = buf[:0]
		}
		err := setRecord(st, s.rec)
		if err == nil {
			blob, err = st.AppendBinary(blob[:0])
		}
		if err != nil {
			// Cannot happen with our own state; the old sequence
			// numbers must not be used again: the connection ends.
			h.srv.log.Error("hibernate: record state", "err", err)
			h.mu.Lock()
			_, _, _, terr := h.take(tok, closing)
			h.mu.Unlock()
			if terr == nil {
				h.end(tok, s, "")
			}
			return false
		}
	}
	h.mu.Lock()
	if blob != nil {
		if err := h.table.SetBlob(tok, blob); err != nil {
			h.srv.log.Error("hibernate", "err", err)
		}
	}
	line := byeShutdown
	switch {
	case h.closed:
	case h.phaseOf(tok) == ownedDirty:
		h.set(tok, owned)
		h.mu.Unlock()
		return true
	case h.poller.Add(s.fd, uint64(tok)) != nil:
		// Only a closed poller fails here, at shutdown; the client
		// cannot be heard any more.
		line = ""
	case betweenCommands:
		h.set(tok, between)
		h.mu.Unlock()
		return false
	default:
		h.set(tok, idling)
		h.mu.Unlock()
		return false
	}
	_, partial := h.held[tok] // cannot be passed on: see stopAll
	_, stored, _, err := h.take(tok, closing)
	pass := h.pass
	h.mu.Unlock()
	switch {
	case err != nil:
	case pass != nil && line != "" && !partial:
		h.passOn(tok, s, stored)
	case pass != nil:
		h.end(tok, s, "")
	default:
		h.end(tok, s, line)
	}
	return false
}

// fullWake hands an owned sleeper to a full wake (wake.go): in is input
// already read from the client, out output still owed to it, and st,
// when set, replaces the stored state. owner is the owner's transport:
// a TLS 1.3 one's record state (with the raw input it read) is the
// current one, not the stored blob's (sleeper{} when the owner did no
// I/O). The wake owns the sleeper now. For a compressed sleeper in is the
// compressed bytes it read, decoded from the stored state; with st set it
// is text the session reads before what its inflater, resumed from st's
// state, decodes.
func (h *hibernator) fullWake(tok hibernate.Token, owner sleeper, cause string, in, out []byte, st *hibernate.State) {
	h.mu.Lock()
	hold := h.holdWatch(tok)
	q := h.notifiers[tok].q // the woken session takes it over
	held := h.held[tok]     // raw input before anything in in (hibernate_held.go)
	s, blob, since, err := h.take(tok, waking)
	h.mu.Unlock()
	if err != nil {
		hold()
		return
	}
	decoded := st != nil
	if q != nil {
		q.setPoke(nil)
	}
	if st != nil {
		if b, err := st.MarshalBinary(); err == nil {
			blob = b
		}
	}
	if owner.rec != nil {
		s.rec = owner.rec
		if b, err := blobWithRecord(blob, s.rec); err == nil {
			blob = b
		}
	}
	switch {
	case held == nil:
	case s.rec != nil:
		// Raw records, before what the owner read and left unopened.
		s.rec.in = append(held, s.rec.in...)
	case decoded && s.deflate:
		// A wake not on client input (in is empty) with st after a
		// change: its inflater state is still the stored one, from
		// which held is decoded.
		in, decoded = held, false
	default:
		in = append(held, in...)
	}
	go h.wake(tok, s, blob, since, cause, in, out, decoded, hold, q)
}

// holdWatch keeps the mailbox of sleeper tok watched until the returned
// func is called (h.mu held). A full wake takes the sleeper out of the
// table, which ends the mailbox's subscription with its last sleeper;
// the store would then drop its disk watch and, when the woken session
// opens the mailbox, could no longer trust its index without rescanning
// the whole folder (a cost that grows with the mailbox). The hold spans
// the gap until the session has the mailbox open again.
func (h *hibernator) holdWatch(tok hibernate.Token) (release func()) {
	info, err := h.table.Lookup(tok)
	if err != nil {
		return func() {}
	}
	user, mailbox := h.table.Subscriptions().Key(info.Sub)
	if mailbox == "" {
		return func() {} // nothing selected, nothing watched
	}
	return h.srv.cfg.Store.Watch(user, mailbox, nil)
}
