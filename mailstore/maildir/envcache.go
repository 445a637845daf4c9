package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/mailstore"
)

// envelopeVersion prefixes each kept envelope header, so that a later
// change of what is kept can tell old entries apart and read the message
// again.
const envelopeVersion = 1

var _ mailstore.EnvelopeCache = (*mailboxHandle)(nil)

// EnvelopeHeaders returns the envelope header of each message of uids, in
// order (nil for a message that is gone). Headers are kept in the index
// the first time they are asked for, as Dovecot's cache decides to keep a
// field once a client asks for it, and when Dormouse expunges a message
// (keepExpungedEnvelope); a message's content never changes, so an entry
// lives as long as its message and then as long as its expunge is in the
// expunge log (trimExpungeLog drops it): a session that has not been told
// of the expunge still sees the message's envelope (issue 25).
func (h *mailboxHandle) EnvelopeHeaders(ctx context.Context, uids []uint32) ([][]byte, error) {
	out := make([][]byte, len(uids))
	var missing []int
	err := h.view(func(m *mboxTx) error {
		for i, uid := range uids {
			if m.envelopes != nil {
				if v := m.envelopes.Get(u32(uid)); len(v) > 0 && v[0] == envelopeVersion {
					out[i] = bytes.Clone(v[1:])
					continue
				}
			}
			missing = append(missing, i)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("envelope headers of %s: %w", h.name, err)
	}
	if len(missing) == 0 {
		return out, nil
	}
	fresh := make(map[uint32][]byte, len(missing))
	for _, i := range missing {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		block, err := h.readEnvelope(ctx, uids[i])
		if errors.Is(err, mailstore.ErrNoMessage) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = block
		fresh[uids[i]] = block
	}
	if len(fresh) > 0 {
		if err := h.keepEnvelopes(fresh); err != nil {
			// The answer stands; the next request reads the messages again.
			h.u.s.log.Warn("keep envelope headers", "user", h.u.name, "mailbox", h.name, "err", err)
		}
	}
	return out, nil
}

// readEnvelope reads the envelope header of one message from its file.
func (h *mailboxHandle) readEnvelope(ctx context.Context, uid uint32) ([]byte, error) {
	content, err := h.Open(ctx, uid)
	if err != nil {
		return nil, err
	}
	defer content.Close()
	block, err := envelopeOf(content)
	if err != nil {
		return nil, fmt.Errorf("envelope of message %d in %s: %w", uid, h.name, err)
	}
	return block, nil
}

// envelopeOf parses a message's envelope header block.
func envelopeOf(content mailstore.Content) ([]byte, error) {
	msg, err := imapmsg.ParseHeader(content, content.Size())
	if err != nil {
		return nil, err
	}
	return msg.EnvelopeHeader()
}

// expungeEnvelopeReads bounds the message files one transaction reads to
// keep the envelopes of the messages it expunges: an EXPUNGE of more
// leaves the rest to what the cache already holds, as Dovecot's does.
const expungeEnvelopeReads = 1000

// keepExpungedEnvelope keeps the envelope header of a message that this
// transaction is about to expunge, read from its file (still in cur/)
// unless it is kept already, so that sessions not yet told of the
// expunge can still FETCH its ENVELOPE and SEARCH its header fields. A
// message that cannot be read is left out: those sessions see it as
// Dovecot shows a message whose cached fields are missing.
func (m *mboxTx) keepExpungedEnvelope(r *msgRec) error {
	if m.envelopes != nil {
		if v := m.envelopes.Get(u32(r.uid)); len(v) > 0 && v[0] == envelopeVersion {
			return nil
		}
	}
	if m.envelopeReads >= expungeEnvelopeReads {
		return nil
	}
	m.envelopeReads++
	f, fileSize, err := openMessageFile(filepath.Join(m.dir, "cur", r.file))
	if err != nil {
		return nil // gone already: nothing to keep
	}
	content := newContent(f, fileSize, r.size)
	block, err := envelopeOf(content)
	content.Close()
	if err != nil {
		return nil // unparsable: FETCH ENVELOPE could not answer either
	}
	if m.envelopes == nil {
		if m.envelopes, err = m.b.CreateBucketIfNotExists(bktEnvelopes); err != nil {
			return err
		}
	}
	v := make([]byte, 0, 1+len(block))
	return m.envelopes.Put(u32(r.uid), append(append(v, envelopeVersion), block...))
}

// keepEnvelopes stores blocks by UID in one transaction, skipping messages
// expunged since they were read, so that no entry outlives its message.
func (h *mailboxHandle) keepEnvelopes(blocks map[uint32][]byte) error {
	return h.update(func(m *mboxTx) error {
		env, err := m.b.CreateBucketIfNotExists(bktEnvelopes)
		if err != nil {
			return err
		}
		for uid, block := range blocks {
			if m.msgs.Get(u32(uid)) == nil {
				continue
			}
			v := make([]byte, 0, 1+len(block))
			v = append(append(v, envelopeVersion), block...)
			if err := env.Put(u32(uid), v); err != nil {
				return err
			}
		}
		return nil
	})
}
