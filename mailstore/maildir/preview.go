package maildir

import (
	"context"
	"fmt"

	"github.com/dormouse/dormouse/mailstore"
)

var _ mailstore.PreviewCache = (*mailboxHandle)(nil)

// Previews calls fn with the kept preview record of each message of uids
// that has one (mailstore.PreviewCache).
func (h *mailboxHandle) Previews(ctx context.Context, uids []uint32, fn func(i int, rec []byte)) error {
	if err := h.records(ctx, bktPreviews, uids, fn); err != nil {
		return fmt.Errorf("previews of %s: %w", h.name, err)
	}
	return nil
}

// KeepPreviews stores preview records by UID, skipping messages expunged
// since; a record goes with its message's envelope when the expunge log
// is trimmed (trimExpungeLog).
func (h *mailboxHandle) KeepPreviews(recs map[uint32][]byte) error {
	if err := h.keepRecords(bktPreviews, recs); err != nil {
		return fmt.Errorf("keep previews of %s: %w", h.name, err)
	}
	return nil
}
