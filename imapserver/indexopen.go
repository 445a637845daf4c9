package imapserver

import (
	"context"
	"slices"

	"github.com/dormouse/dormouse/mailstore"
)

// indexOpenBlock is how many messages an index build looks up in the
// store at a time: a build that opened each by itself paid a read
// transaction of the store's index per message, which was a third of the
// garbage a background build of 100,000 small messages made
// (docs/benchmarks.md, "Large mailboxes").
const indexOpenBlock = 256

// openBlock opens messages of a block whose files were looked up in the
// store together (mailstore.ManyOpener), for the search check and the
// index build alike; a message outside the block, or any when the store
// cannot, or when the lookup failed, is opened by itself. The zero value
// opens each by itself.
type openBlock struct {
	uids   []uint32 // the block, ascending
	opened func(i int) (mailstore.Content, error)
}

// lookUp makes uids (ascending; kept, not copied) the block, looked up
// together when mbox can.
func (b *openBlock) lookUp(ctx context.Context, mbox mailstore.Mailbox, uids []uint32) {
	b.uids, b.opened = uids, nil
	if mo, ok := mbox.(mailstore.ManyOpener); ok {
		if open, err := mo.OpenMany(ctx, uids); err == nil {
			b.opened = open
		}
	}
}

// open opens message uid of mbox: through the block when it is in it,
// else by itself.
func (b *openBlock) open(ctx context.Context, mbox mailstore.Mailbox, uid uint32) (mailstore.Content, error) {
	if b.opened != nil {
		if i, ok := slices.BinarySearch(b.uids, uid); ok {
			return b.opened(i)
		}
	}
	return mbox.Open(ctx, uid)
}
