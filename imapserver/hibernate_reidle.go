package imapserver

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// asleepAnswer is what a sleeper answers itself for its client's input.
type asleepAnswer struct {
	out     []byte // written first: the DONE's tagged OK, "+ idling"
	idleTag string // the IDLE in progress afterwards; "" between commands
	// name and done are the name and tagged completion of a command
	// answered asleep (NOOP, CHECK), written after the untagged updates
	// it reports (RFC 9051 6.1.2, 7); done is nil for none. cmd is the
	// input from that command on, for a full wake that must run it.
	name      string
	done, cmd []byte
	// fetch is set for a flags-only UID FETCH (hibernate_fetch.go),
	// whose FETCH responses come between the updates and done; quota for
	// GETQUOTAROOT of the selected mailbox, whose responses come before
	// the updates.
	fetch *imapwire.FetchArgs
	quota bool
}

// answerAsleep gives what an active session would write for in, the
// client's bytes to a sleeper, when it is one of the forms a sleeper
// answers itself (RFC 2177 asks clients to renew IDLE every 29 minutes,
// and keepalives are answered with DONE, NOOP and IDLE): while idling
// (idleTag set), DONE alone or followed by one command; between commands
// (idleTag empty, after a DONE answered asleep or in a quiet session),
// one command. The commands are "tag IDLE", "tag NOOP" and, with a
// mailbox selected (mailbox), "tag CHECK", a flags-only UID FETCH
// (flagsFetch; en is the session's enabled extensions) and GETQUOTAROOT
// of that mailbox (Thunderbird's keepalive answers). Lines end in CRLF (or a bare LF, which
// the decoder takes too), are case-insensitive as the decoder reads
// them, and nothing may follow. Anything else, a partial line included,
// is for a full wake.
func answerAsleep(idleTag, mailbox string, en enabled, in []byte) (a asleepAnswer, ok bool) {
	rest := in
	if idleTag != "" {
		var done []byte
		done, rest, ok = cutLine(in)
		if !ok || !bytes.EqualFold(done, []byte("DONE")) {
			return asleepAnswer{}, false
		}
		a.out = appendIdleDone(a.out, idleTag)
		if len(rest) == 0 {
			return a, true
		}
	}
	a.cmd = rest
	line, rest, ok := cutLine(rest)
	if !ok || len(rest) != 0 {
		return asleepAnswer{}, false
	}
	tag, name, ok := bytes.Cut(line, []byte{' '})
	if !ok || !imapwire.ValidTag(tag) {
		return asleepAnswer{}, false
	}
	selected := mailbox != ""
	verb, _, _ := bytes.Cut(name, []byte{' '})
	switch {
	case bytes.EqualFold(name, []byte("IDLE")):
		a.out = append(a.out, lineIdling...)
		a.idleTag = string(tag)
	case bytes.EqualFold(name, []byte("NOOP")), selected && bytes.EqualFold(name, []byte("CHECK")):
		// exec's tagged OK: the name as the decoder spells it.
		a.name = strings.ToUpper(string(name))
		a.done = fmt.Appendf(nil, "%s OK %s completed\r\n", tag, a.name)
	case selected && bytes.EqualFold(verb, []byte("UID")):
		cmd, ok := parseAsleep(line, en)
		if !ok {
			return asleepAnswer{}, false
		}
		if a.fetch, ok = flagsFetch(cmd, en); !ok {
			return asleepAnswer{}, false
		}
		a.name = "FETCH" // as exec counts it; its OK says "UID FETCH"
		a.done = fmt.Appendf(nil, "%s OK UID FETCH completed\r\n", tag)
	case selected && bytes.EqualFold(verb, []byte("GETQUOTAROOT")):
		cmd, ok := parseAsleep(line, en)
		if !ok || cmd.Name != "GETQUOTAROOT" {
			return asleepAnswer{}, false
		}
		args, _ := cmd.Args.(*imapwire.MailboxArgs)
		if args == nil || canonicalName(args.Mailbox) != mailstore.CanonicalName(mailbox) {
			return asleepAnswer{}, false
		}
		a.name, a.quota = "GETQUOTAROOT", true
		a.done = fmt.Appendf(nil, "%s OK GETQUOTAROOT completed\r\n", tag)
	default:
		return asleepAnswer{}, false
	}
	return a, true
}

// wakeCommand names, for a metric, the command of a client's input that
// a sleeper could not answer (in, after a DONE answered with it when
// idleTag is set): its name as lookupCommand knows it, with "UID " before
// a UID command's; "partial" when no complete line came, "other" for an
// unknown name. The label values are bounded by the command table.
func wakeCommand(idleTag string, in []byte) string {
	line, rest, ok := cutLine(in)
	if ok && idleTag != "" && bytes.EqualFold(line, []byte("DONE")) {
		line, _, ok = cutLine(rest)
	}
	if !ok {
		return "partial"
	}
	if bytes.EqualFold(line, []byte("DONE")) {
		return "DONE"
	}
	_, cmd, _ := bytes.Cut(line, []byte{' '})
	name, args, _ := bytes.Cut(cmd, []byte{' '})
	prefix := ""
	if bytes.EqualFold(name, []byte("UID")) {
		prefix = "UID "
		name, _, _ = bytes.Cut(args, []byte{' '})
	}
	n := strings.ToUpper(string(name))
	if _, known := lookupCommand(n); !known {
		return "other"
	}
	return prefix + n
}

// cutLine splits off the first line of b without its LF or CRLF; false
// when b holds no complete line.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, b, false
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest, true
}
