package imapmsg

import (
	"strings"

	"github.com/dormouse/dormouse/imapwire"
)

// writeEnvelope writes env as an ENVELOPE (RFC 9051 7.5.2): the strings
// are the unfolded raw header text, encoded-words left as they are; Sender
// and Reply-To default to From.
func writeEnvelope(w *imapwire.Writer, env *envelope) {
	if env == nil {
		env = &envelope{}
	}
	w.Open()
	writeEnvString(w, env, envDate)
	w.SP()
	writeEnvString(w, env, envSubject)
	for _, i := range [...]int{envFrom, envSender, envReplyTo, envTo, envCc, envBcc} {
		w.SP()
		if (i == envSender || i == envReplyTo) && !hasAddresses(env, i) {
			i = envFrom
		}
		writeAddressField(w, env, i)
	}
	w.SP()
	writeEnvString(w, env, envInReplyTo)
	w.SP()
	writeEnvString(w, env, envMessageID)
	w.Close()
}

// hasAddresses says whether field i is present and not blank: an empty
// Sender or Reply-To also falls back to From (RFC 9051 7.5.2).
func hasAddresses(env *envelope, i int) bool {
	return env.has[i] && strings.Trim(env.v[i], " \t,") != ""
}

// writeEnvString writes field i, NIL when absent; a present but empty
// field is the empty string, its raw text.
func writeEnvString(w *imapwire.Writer, env *envelope, i int) {
	if !env.has[i] {
		w.NIL()
		return
	}
	w.String(env.v[i])
}

// writeNString writes s, or NIL when the field is absent or empty (an
// empty field carries no information and Dovecot sends NIL for it).
func writeNString(w *imapwire.Writer, s string, ok bool) {
	if !ok || s == "" {
		w.NIL()
		return
	}
	w.String(s)
}

// writeAddressField writes address field i as an address list: NIL when
// it is absent or holds no address.
func writeAddressField(w *imapwire.Writer, env *envelope, i int) {
	if !env.has[i] {
		w.NIL()
		return
	}
	empty := true
	eachAddress(env.v[i], func(a address) {
		if empty {
			w.Open()
			empty = false
		}
		writeAddress(w, &a)
	})
	if empty {
		w.NIL()
		return
	}
	w.Close()
}

// writeAddress writes one address of a list.
func writeAddress(w *imapwire.Writer, a *address) {
	// RFC 9051 7.5.2: a group starts with (NIL NIL "name" NIL) and ends
	// with (NIL NIL NIL NIL).
	w.Open()
	switch {
	case a.groupEnd:
		w.Raw("NIL NIL NIL NIL")
	case a.groupStart:
		w.Raw("NIL NIL ")
		w.String(a.name)
		w.Raw(" NIL")
	default:
		writeNString(w, a.name, true)
		w.SP()
		writeNString(w, a.adl, true)
		w.SP()
		w.String(a.mailbox)
		w.SP()
		w.String(a.host)
	}
	w.Close()
}
