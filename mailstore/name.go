package mailstore

import "strings"

// Inbox is the canonical spelling of the user's primary mailbox.
const Inbox = "INBOX"

// CanonicalName is the one rule for spelling INBOX, used by every layer
// that compares or keys mailbox names (IMAP commands and LIST patterns,
// the wire codec, the store, the event bus, the hibernator, LMTP and
// `dormouse deliver`).
//
// RFC 9051 5.1: the name INBOX is case-insensitive. Its children share
// that: a name whose first hierarchy level is INBOX in any case gets that
// level in capitals ("inbox" and "Inbox" are "INBOX", "inbox/Sent" is
// "INBOX/Sent"), so a child of INBOX has one name however the client
// spelled it. Every other name is returned as given, including
// "INBOXES" and "inbox.x" (ordinary names whose first level is not
// INBOX) and a bare "inbox/" (the caller trims or rejects a trailing
// separator). It does not validate the name, and it does not allocate
// when the name is already canonical.
func CanonicalName(name string) string {
	if len(name) < len(Inbox) || (len(name) > len(Inbox) && name[len(Inbox)] != '/') {
		return name
	}
	if name[:len(Inbox)] == Inbox || !strings.EqualFold(name[:len(Inbox)], Inbox) {
		return name
	}
	return Inbox + name[len(Inbox):]
}

// IsInbox reports whether name is INBOX, in any case.
func IsInbox(name string) bool {
	return CanonicalName(name) == Inbox
}
