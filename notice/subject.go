package notice

import (
	"strings"

	"github.com/dormouse/dormouse/mailstore"
)

// SubjectPrefix begins every notice subject.
const SubjectPrefix = "dormouse.notice"

// AllSubject matches the notices of every user.
const AllSubject = SubjectPrefix + ".>"

// userWideToken is the mailbox token of a user-wide notice (Mailbox ""):
// Token never makes it of a non-empty name, whose '_' are always followed
// by two hex digits.
const userWideToken = "_"

// Subject is the NATS subject of the notices of user's mailbox:
// "dormouse.notice.<user>.<mailbox>", each name made a NATS-safe token by
// Token; mailbox "" (a user-wide notice) is the token "_". The mailbox is
// canonicalised as the store does (INBOX in any case is INBOX).
func Subject(user, mailbox string) string {
	mt := userWideToken
	if mailbox != "" {
		mt = Token(mailstore.CanonicalName(mailbox))
	}
	return SubjectPrefix + "." + Token(user) + "." + mt
}

// UserSubject matches the notices of every mailbox of user, user-wide
// ones included: "dormouse.notice.<user>.>".
func UserSubject(user string) string {
	return SubjectPrefix + "." + Token(user) + ".>"
}

// ParseSubject returns the user and mailbox a notice subject names.
func ParseSubject(subject string) (user, mailbox string, ok bool) {
	rest, ok := strings.CutPrefix(subject, SubjectPrefix+".")
	if !ok {
		return "", "", false
	}
	ut, mt, ok := strings.Cut(rest, ".")
	if !ok {
		return "", "", false
	}
	if user, ok = ParseToken(ut); !ok || user == "" {
		return "", "", false
	}
	if mt == userWideToken {
		return user, "", true
	}
	if mailbox, ok = ParseToken(mt); !ok || mailbox == "" {
		return "", "", false
	}
	return user, mailbox, true
}

// Token makes a name one NATS subject token, and a JetStream KV key:
// ASCII letters, digits and '-' stay as they are (so "alice" and "INBOX"
// read as themselves), every other byte becomes '_' and two lowercase hex
// digits ("Archive/2026" is "Archive_2f2026"). No token holds '.', '*',
// '>' or white space, and different names make different tokens. The
// empty name is "_".
func Token(name string) string {
	if name == "" {
		return userWideToken
	}
	n := len(name)
	for i := 0; i < len(name); i++ {
		if !plainByte(name[i]) {
			n += 2
		}
	}
	if n == len(name) {
		return name
	}
	var b strings.Builder
	b.Grow(n)
	const hex = "0123456789abcdef"
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ParseToken returns the name Token made tok of.
func ParseToken(tok string) (name string, ok bool) {
	if tok == userWideToken {
		return "", true
	}
	if tok == "" {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		if c != '_' || i+2 >= len(tok) {
			return "", false
		}
		hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		v := byte(hi<<4 | lo)
		if plainByte(v) {
			return "", false // not Token's: it keeps these bytes as they are
		}
		b.WriteByte(v)
		i += 2
	}
	return b.String(), true
}

// plainByte reports whether Token keeps c as it is.
func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
}

// unhex is the value of a lowercase hex digit, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}
