package imapserver

import (
	"context"

	"github.com/dormouse/dormouse/mailstore"
)

// indexOpenBlock is how many messages an index build looks up in the
// store at a time (mailstore.ManyOpener): a build that opened each by
// itself paid a read transaction of the store's index per message,
// which was a third of the garbage a background build of 100,000 small
// messages made (docs/benchmarks.md, "Large mailboxes").
const indexOpenBlock = 256

// blockOpener opens the messages of a build, one after the other, through
// lookups of indexOpenBlock of them at once when the store offers it.
// The zero value is ready to use.
type blockOpener struct {
	from, to int // the block uids[from:to] looked up
	opened   func(i int) (mailstore.Content, error)
}

// open opens uids[i] of mbox; the calls come with i ascending.
func (o *blockOpener) open(ctx context.Context, mbox mailstore.Mailbox, uids []uint32, i int) (mailstore.Content, error) {
	if i < o.from || i >= o.to {
		o.from, o.to, o.opened = i, min(i+indexOpenBlock, len(uids)), nil
		mo, ok := mbox.(mailstore.ManyOpener)
		if ok {
			// A failed lookup leaves each message to Open.
			if open, err := mo.OpenMany(ctx, uids[o.from:o.to]); err == nil {
				o.opened = open
			}
		}
	}
	if o.opened != nil {
		return o.opened(i - o.from)
	}
	return mbox.Open(ctx, uids[i])
}
