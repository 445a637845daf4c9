package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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
// field once a client asks for it; a message's content never changes, so
// an entry lives as long as its message (mboxTx.remove drops it).
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
	msg, err := imapmsg.ParseHeader(content, content.Size())
	if err != nil {
		return nil, fmt.Errorf("envelope of message %d in %s: %w", uid, h.name, err)
	}
	block, err := msg.EnvelopeHeader()
	if err != nil {
		return nil, fmt.Errorf("envelope of message %d in %s: %w", uid, h.name, err)
	}
	return block, nil
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
