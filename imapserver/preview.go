package imapserver

import (
	"errors"
	"fmt"

	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// PREVIEW (RFC 8970): FETCH PREVIEW answers the first 200 characters of
// a message's first text part (imapmsg.Message.Preview), NIL for a
// message without text. A preview is computed once, from the message
// file, and kept in the index (mailstore.PreviewCache) for the next
// FETCH: webmail asks previews for every page of a list. PREVIEW (LAZY)
// is answered the same way: a preview not kept yet is computed and
// returned, never NIL in its place (RFC 8970 3.1 lets a server answer
// NIL to LAZY; it does not have to). Nothing of it is session state.

// previewCap is the capability, advertised beside baseCaps.
const previewCap = " PREVIEW"

// previewChunk is how many kept previews FETCH reads at a time, and how
// many new ones it keeps in memory before it writes them.
const previewChunk = 1024

// preview is one message's PREVIEW: ok false for NIL.
type preview struct {
	text string
	ok   bool
}

// previewRecord is how a preview is kept: a format byte (0 for NIL, 1
// for a text), then the text.
func previewRecord(p preview) []byte {
	if !p.ok {
		return []byte{0}
	}
	return append([]byte{1}, p.text...)
}

// parsePreviewRecord reads a kept preview; ok false for a record of
// another format, which is then computed again.
func parsePreviewRecord(rec []byte) (p preview, ok bool) {
	switch {
	case len(rec) == 1 && rec[0] == 0:
		return preview{}, true
	case len(rec) > 1 && rec[0] == 1:
		return preview{text: string(rec[1:]), ok: true}, true
	}
	return preview{}, false
}

// previewReader gives FETCH the previews of the messages it walks: kept
// ones a chunk at a time, the others computed from the message files and
// kept (flush).
type previewReader struct {
	c     *conn
	cache mailstore.PreviewCache // nil when the store keeps none
	seqs  []uint32

	from  int
	got   []preview
	have  []bool
	fresh map[uint32][]byte // computed, to keep
}

func newPreviewReader(c *conn, seqs []uint32) *previewReader {
	cache, _ := c.sel.mbox.(mailstore.PreviewCache)
	return &previewReader{c: c, cache: cache, seqs: seqs}
}

// preview returns the preview of the i-th message of seqs.
func (r *previewReader) preview(i int) (preview, error) {
	if r.cache != nil && (i < r.from || i >= r.from+len(r.got)) {
		n := min(previewChunk, len(r.seqs)-i)
		uids := make([]uint32, n)
		for j := range uids {
			uids[j] = r.c.sel.view.Messages.UID(int(r.seqs[i+j] - 1))
		}
		r.from, r.got, r.have = i, make([]preview, n), make([]bool, n)
		err := r.cache.Previews(r.c.ctx, uids, func(j int, rec []byte) {
			r.got[j], r.have[j] = parsePreviewRecord(rec)
		})
		if err != nil {
			return preview{}, err
		}
	}
	if r.cache != nil && r.have[i-r.from] {
		return r.got[i-r.from], nil
	}
	uid := r.c.sel.view.Messages.UID(int(r.seqs[i] - 1))
	p, err := r.compute(uid)
	if err != nil || r.cache == nil {
		return p, err
	}
	if r.fresh == nil {
		r.fresh = make(map[uint32][]byte)
	}
	r.fresh[uid] = previewRecord(p)
	if len(r.fresh) >= previewChunk {
		return p, r.flush()
	}
	return p, nil
}

// compute makes the preview of a message from its file; NIL for a
// message whose file is gone (expunged by another session).
func (r *previewReader) compute(uid uint32) (preview, error) {
	content, err := r.c.sel.mbox.Open(r.c.ctx, uid)
	if errors.Is(err, mailstore.ErrNoMessage) {
		return preview{}, nil
	}
	if err != nil {
		return preview{}, fmt.Errorf("preview of uid %d: %w", uid, err)
	}
	defer content.Close()
	msg, err := imapmsg.Parse(content, content.Size())
	if err != nil {
		return preview{}, fmt.Errorf("preview of uid %d: %w", uid, err)
	}
	text, ok := msg.Preview()
	return preview{text: text, ok: ok}, nil
}

// flush keeps the previews computed so far.
func (r *previewReader) flush() error {
	if len(r.fresh) == 0 {
		return nil
	}
	err := r.cache.KeepPreviews(r.fresh)
	r.fresh = nil
	return err
}

// writePreview writes a preview as an nstring (RFC 8970 4).
func writePreview(w *imapwire.Writer, p preview) {
	if !p.ok {
		w.NIL()
		return
	}
	w.String(p.text)
}
