package imapmsg

import "strings"

// The header values that SORT and THREAD order and link messages by
// (RFC 5256, RFC 5957). Each reads the top-level header's first field of
// its name, so a Message parsed from EnvelopeHeader's block gives the same
// answers as the whole message.

// Subject returns the Subject field unfolded, its RFC 2047 encoded-words
// decoded; "" when absent.
func (m *Message) Subject() string {
	env := m.root.env
	if env == nil || !env.has[envSubject] {
		return ""
	}
	return decodeHeader(env.v[envSubject])
}

// SortAddress is the first mailbox of an address field, for SORT: the
// mailbox (local part, RFC 5256 "addr-mailbox") and the display form
// (RFC 5957 3: the display-name, RFC 2047-decoded, or when it is empty
// the addr-spec).
type SortAddress struct {
	Mailbox string
	Display string
}

// FirstAddress returns the first mailbox (group markers skipped) of the
// address field named field ("From", "To" or "Cc"), and false when the
// field is absent or lists none.
func (m *Message) FirstAddress(field string) (SortAddress, bool) {
	env := m.root.env
	i := -1
	switch strings.ToLower(field) {
	case "from":
		i = envFrom
	case "to":
		i = envTo
	case "cc":
		i = envCc
	}
	if env == nil || i < 0 || !env.has[i] {
		return SortAddress{}, false
	}
	var first address
	found := false
	eachAddress(env.v[i], func(a address) {
		if !found && !a.groupStart && !a.groupEnd {
			first, found = a, true
		}
	})
	if !found {
		return SortAddress{}, false
	}
	mailbox := first.mailbox
	if mailbox == missingMailbox {
		mailbox = ""
	}
	sa := SortAddress{Mailbox: mailbox, Display: strings.TrimSpace(decodeHeader(first.name))}
	if sa.Display == "" && mailbox != "" {
		sa.Display = mailbox
		if first.host != "" && first.host != missingDomain {
			sa.Display += "@" + first.host
		}
	}
	return sa, true
}

// maxReferences bounds the message IDs read from one References field:
// its last ones, which name the nearest ancestors, are kept (RFC 5256 4
// links each to the next, and the last is the parent; the ones cut only
// matter when the 32 nearest ancestors are all missing). A THREAD holds
// every searched message's references at once, so without a bound
// 100,000 messages with a megabyte of IDs each would cost it gigabytes.
const maxReferences = 32

// MessageID returns the first msg-id of the Message-ID field, angle
// brackets included, "" when there is none.
func (m *Message) MessageID() string { return m.firstID(envMessageID) }

// InReplyTo returns the first msg-id of the In-Reply-To field, "" when
// there is none (RFC 5256 4 step 1.A uses only the first).
func (m *Message) InReplyTo() string { return m.firstID(envInReplyTo) }

// References returns the msg-ids of the References field in order, at
// most maxReferences of them (the last ones).
func (m *Message) References() []string {
	env := m.root.env
	if env == nil || !env.has[envReferences] {
		return nil
	}
	var ids []string
	eachMsgID(env.v[envReferences], func(id string) bool {
		ids = append(ids, id)
		if len(ids) >= 2*maxReferences {
			ids = append(ids[:0], ids[maxReferences:]...)
		}
		return true
	})
	if len(ids) > maxReferences {
		ids = ids[len(ids)-maxReferences:]
	}
	return ids
}

func (m *Message) firstID(i int) string {
	env := m.root.env
	if env == nil || !env.has[i] {
		return ""
	}
	var first string
	eachMsgID(env.v[i], func(id string) bool {
		first = id
		return false
	})
	return first
}

// eachMsgID calls fn with each msg-id ("<" id-left "@" id-right ">", RFC
// 5322 3.6.4) in s, read leniently as Dovecot does: comments and
// whitespace are skipped, whitespace inside the brackets is dropped, and
// an id without "@" or with nothing on either side is ignored. It stops
// when fn returns false.
func eachMsgID(s string, fn func(string) bool) {
	for i := 0; i < len(s); {
		switch s[i] {
		case '(':
			// A comment, nested comments included.
			depth := 0
			for ; i < len(s); i++ {
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			i++
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				return
			}
			id := s[i : i+end+1]
			i += end + 1
			if strings.ContainsAny(id, " \t\r\n") {
				id = strings.Map(func(r rune) rune {
					if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
						return -1
					}
					return r
				}, id)
			}
			at := strings.IndexByte(id, '@')
			if at <= 1 || at >= len(id)-2 || strings.IndexByte(id[1:], '<') >= 0 {
				continue
			}
			if !fn(id) {
				return
			}
		default:
			i++
		}
	}
}
