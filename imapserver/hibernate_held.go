package imapserver

import "github.com/dormouse/dormouse/hibernate"

// A client's DONE or keepalive answer may reach a sleeper in pieces: a
// TLS record in two TCP segments, a compressed flush in two TLS records
// written apart, a line cut by the network. Each piece alone is no
// command, yet the sleeper can answer the whole as it answers one that
// came at once. So instead of a full wake for the first piece, the raw
// bytes read so far are held (hibernator.held) and the sleeper is armed
// again; when the rest arrives they are read again in front of it, from
// the same stored state (TLS read sequence number, inflater state),
// exactly as if everything had come together. Bounded: at most
// reidleRead bytes per sleeper, which is also the most a sleeper reads
// at once; more is for a full wake anyway. Whatever takes the sleeper
// out of the table gets them: a full wake reads them first (fullWake),
// a close drops them with the connection, and a handover, which cannot
// pass them on, closes that connection (stopAll).

// servedHeld counts client input held asleep for its rest (a metric
// label of hibernated_served_total).
const servedHeld = "held"

// takeHeld returns and forgets the raw input held for sleeper tok.
func (h *hibernator) takeHeld(tok hibernate.Token) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.held[tok]
	delete(h.held, tok)
	return b
}

// hold keeps raw input of sleeper tok for its rest (at most reidleRead
// bytes: the caller checks).
func (h *hibernator) hold(tok hibernate.Token, raw []byte) {
	if len(raw) == 0 {
		return
	}
	b := append([]byte(nil), raw...)
	h.mu.Lock()
	h.held[tok] = b
	h.mu.Unlock()
}

// holdRest holds what the owner of sleeper tok read, when awaited says
// its rest is to come and it is less than reidleRead bytes: in for a
// plain or tls.Conn sleeper (the bytes read, held ones first), the raw
// records for a TLS 1.3 one, whose read sequence number goes back to seq
// so that they are opened again with the rest. False leaves everything
// as it was, for a full wake.
func (h *hibernator) holdRest(tok hibernate.Token, s sleeper, seq uint64, in []byte, awaited bool) bool {
	raw := in
	if s.rec != nil {
		raw = s.rec.raw
	}
	if !awaited || len(raw) >= reidleRead {
		return false
	}
	h.hold(tok, raw)
	if s.rec != nil {
		s.rec.st.ReadSeq = seq
		s.rec.in, s.rec.raw = nil, nil
	}
	h.srv.cfg.Metrics.served(servedHeld)
	return true
}

// storedState decodes the state stored for sleeper tok: the state before
// the input its owner holds was decoded (the inflater's moves on with
// it).
func (h *hibernator) storedState(tok hibernate.Token) (*hibernate.State, error) {
	h.mu.Lock()
	blob, err := h.table.AppendBlob(nil, tok)
	h.mu.Unlock()
	if err != nil {
		return nil, err
	}
	st := new(hibernate.State)
	return st, st.UnmarshalBinary(blob)
}
