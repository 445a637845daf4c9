package imapview

import (
	"context"
	"errors"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/mailstore"
)

// Open returns the view of a session that opens mb now: a snapshot of it
// and, unless read-only, the \Recent claim of what it holds (RFC 3501
// 2.3.2, 6.3.2), made after the snapshot is read.
func Open(ctx context.Context, mb mailstore.Mailbox, readOnly bool) (*View, error) {
	snap, err := mb.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	var from, to uint32
	if claim := Claimer(ctx, mb); claim != nil && !readOnly {
		if from, to, err = claim(snap.UIDNext); err != nil {
			return nil, err
		}
	}
	return New(snap, readOnly, from, to), nil
}

// Refresh brings v up to date with mb, an awake session's mailbox, and
// returns what the client must be told: ChangesSince v's MODSEQ, or the
// difference with a snapshot when the expunge log does not reach back
// that far, applied by Apply.
func Refresh(ctx context.Context, mb mailstore.Mailbox, v *View) (Update, error) {
	ch, err := mb.ChangesSince(ctx, v.HighestModSeq)
	if errors.Is(err, mailstore.ErrExpungeLogShort) {
		var snap mailstore.Snapshot
		if snap, err = mb.Snapshot(ctx); err == nil {
			ch = v.Diff(snap)
		}
	}
	if err != nil {
		return Update{}, err
	}
	return v.Apply(ch, Claimer(ctx, mb))
}

// TellFlags returns the flag changes of mb the client of v must be told
// before a command that cannot apply changes (View.TellFlags). When the
// expunge log does not reach back to v's MODSEQ it tells nothing: the
// next Apply does.
func TellFlags(ctx context.Context, mb mailstore.Mailbox, v *View) ([]Fetch, error) {
	ch, err := mb.ChangesSince(ctx, v.HighestModSeq)
	if errors.Is(err, mailstore.ErrExpungeLogShort) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if ch.UIDValidity != v.UIDValidity {
		return nil, nil // Apply says so
	}
	return v.TellFlags(ch, expungedRecords(ctx, mb, v.HighestModSeq))
}

// HeldBack returns the HIGHESTMODSEQ to tell the client of v, mb's
// view, at the end of a command that could not tell it of expunges
// (View.HeldBack), or 0. It asks mb only when the session told a MODSEQ
// above v's. When the expunge log does not reach back to v's MODSEQ,
// expunges are taken to be pending: the value is one the client was told
// already, never wrong to repeat.
func HeldBack(ctx context.Context, mb mailstore.Mailbox, v *View) (uint64, error) {
	if !v.toldAbove() {
		return 0, nil
	}
	ch, err := mb.ChangesSince(ctx, v.HighestModSeq)
	if errors.Is(err, mailstore.ErrExpungeLogShort) {
		v.heldBack = true
		return v.HighestModSeq, nil
	}
	if err != nil {
		return 0, err
	}
	if ch.UIDValidity != v.UIDValidity {
		return 0, nil // Apply says so
	}
	return v.HeldBack(ch), nil
}

// Restored returns the view of st, a hibernated session's state, with its
// records again (View.Restore), for the session woken to run commands.
func Restored(ctx context.Context, mb mailstore.Mailbox, st *hibernate.State) (*View, error) {
	v, err := FromState(st)
	if err != nil {
		return nil, err
	}
	snap, err := mb.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if err := v.Restore(snap, expungedRecords(ctx, mb, v.HighestModSeq)); err != nil {
		return nil, err
	}
	return v, nil
}

// expungedRecords returns the means of asking mb for the records of the
// messages expunged after modseq (mailstore.ExpungedRecords).
func expungedRecords(ctx context.Context, mb mailstore.Mailbox, modseq uint64) func() ([]mailstore.Message, error) {
	return func() ([]mailstore.Message, error) {
		er, ok := mb.(mailstore.ExpungedRecords)
		if !ok {
			return nil, nil
		}
		return er.ExpungedMessages(ctx, modseq)
	}
}

// Claimer returns mb's means of claiming \Recent, nil when it keeps none.
func Claimer(ctx context.Context, mb mailstore.Mailbox) ClaimFunc {
	rc, ok := mb.(mailstore.RecentClaimer)
	if !ok {
		return nil
	}
	return func(upTo uint32) (from, to uint32, err error) { return rc.ClaimRecent(ctx, upTo) }
}
