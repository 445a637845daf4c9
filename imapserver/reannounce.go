package imapserver

import (
	"github.com/dormouse/dormouse/imapwire"
)

// New mail must not wait for the next keepalive. Dormouse tells a session
// of new messages at the first command that may carry updates, often
// before the FETCH responses of the command that is running (catchUp) or
// right after them (sendUpdates). Thunderbird, fetching message bodies
// (`UID fetch 54 (UID RFC822.SIZE BODY.PEEK[])`), ignores an EXISTS that
// comes then, goes back to IDLE, and shows the new message only after its
// next keepalive answer (2 minutes) or mail check (10 minutes).
//
// Two fixes were possible: hold updates back until the end of such
// commands, or say the count again at the next IDLE. Holding them back
// does not help: the tagged OK ends the command, so updates held "to its
// end" still come before the OK, inside the command, where Thunderbird
// ignores them; holding them past the OK, to the next command, goes
// against RFC 9051 5.2 ("A server MUST send mailbox size updates
// automatically if a mailbox size change is observed during the
// processing of a command") and would delay the news for every client
// that does listen (all the others seen: imapflow, go-imap, mbsync,
// Roundcube). Saying the count again is allowed: EXISTS reports the
// number of messages in the mailbox (RFC 9051 7.4.1), a client must
// record it whenever it comes (RFC 9051 7: any response at any time), and
// a repeated, current count changes nothing for a client that heard it.
// Dovecot repeats nothing (its IDLE starts with an ordinary sync); it only
// seemed to work because it saw the delivery later.
//
// So: a FETCH of message bodies during which the view's UIDNEXT moved
// (an EXISTS went out) marks the view ExistsUnheard; the session's next
// IDLE, awake or answered asleep, writes `* n EXISTS` with the current
// count after its updates, and clears the mark. The mark lives in the
// view, and so in the state blob: a session that hibernates between the
// FETCH and its IDLE repeats the count exactly as an awake one.

// fetchesBodies reports whether cmd is a FETCH of message content: a
// body section, BINARY section or RFC822 item, the fetches during which
// a client may ignore an EXISTS.
func fetchesBodies(cmd *imapwire.Command) bool {
	a, ok := cmd.Args.(*imapwire.FetchArgs)
	if cmd.Name != "FETCH" || !ok {
		return false
	}
	for _, it := range a.Items {
		switch it.Name {
		case "RFC822", "RFC822.TEXT", "RFC822.HEADER":
			return true
		case "BODY", "BINARY":
			if it.Section != nil {
				return true
			}
		}
	}
	return false
}

// existsAgain writes, at the start of an IDLE, the current count when
// the view is marked ExistsUnheard, and clears the mark.
func (c *conn) existsAgain() {
	if c.sel == nil || !c.sel.view.ExistsUnheard {
		return
	}
	c.sel.view.ExistsUnheard = false
	c.w.Raw("* ").Number(uint64(c.sel.view.Len())).Raw(" EXISTS").CRLF()
}
