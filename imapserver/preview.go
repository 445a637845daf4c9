package imapserver

import (
	"github.com/dormouse/dormouse/imapmsg"
	"github.com/dormouse/dormouse/imapwire"
)

// PREVIEW (RFC 8970): FETCH PREVIEW answers the first 200 characters of
// a message's first text part (imapmsg.Message.Preview), NIL for a
// message without text. Previews are not kept in the index: one costs a
// parse of the message, as BODYSTRUCTURE does, and PREVIEW (LAZY) is
// answered the same way, with the preview and never NIL in its place
// (3.1 lets a server that has no preview at hand answer NIL to LAZY; it
// does not have to). Nothing of it is session state.

// previewCap is the capability, advertised beside baseCaps.
const previewCap = " PREVIEW"

// writePreview writes the preview of msg as an nstring (RFC 8970 4).
func writePreview(w *imapwire.Writer, msg *imapmsg.Message, fileGone bool) {
	if fileGone || msg == nil {
		w.NIL()
		return
	}
	text, ok := msg.Preview()
	if !ok {
		w.NIL()
		return
	}
	w.String(text)
}
