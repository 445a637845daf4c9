package imapwire

import (
	"strings"
	"unicode/utf8"

	"github.com/dormouse/dormouse/mailstore"
)

// mailbox reads a mailbox name (RFC 9051 9, "mailbox") and decodes it.
func (d *Decoder) mailbox() (string, error) {
	s, err := d.astring()
	if err != nil {
		return "", err
	}
	return d.mailboxName(s)
}

// mailboxName decodes a mailbox name as sent: modified UTF-7 (RFC 3501
// 5.1.3) or, under UTF8=ACCEPT, UTF-8 (RFC 6855 3). INBOX is case
// insensitive (RFC 9051 5.1): it comes back as mailstore.Inbox.
func (d *Decoder) mailboxName(s string) (string, error) {
	if mailstore.IsInbox(s) {
		return mailstore.Inbox, nil
	}
	if d.utf8 {
		return MailboxFromUTF8(s)
	}
	if plainASCII(s) {
		return s, nil
	}
	dec, err := DecodeMUTF7(s)
	if err != nil {
		return "", badName("Mailbox name is not valid modified UTF-7: %v", err)
	}
	return dec, nil
}

// MailboxFromUTF8 checks a mailbox name given in UTF-8 (under
// UTF8=ACCEPT, RFC 6855 3, or in an IMAP URL, RFC 5092 3.3) and returns
// it with INBOX spelled canonically; a name that is not valid UTF-8 or
// holds a control character is a NO *CommandError.
func MailboxFromUTF8(s string) (string, error) {
	if mailstore.IsInbox(s) {
		return mailstore.Inbox, nil
	}
	if !utf8.ValidString(s) {
		return "", badName("Mailbox name is not valid UTF-8")
	}
	for _, r := range s {
		if isControl(r) {
			return "", badName("Control character in mailbox name")
		}
	}
	return s, nil
}

// plainASCII says s is printable ASCII without "&": its own mUTF-7 form.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '&' {
			return false
		}
	}
	return true
}

// listMailbox reads a list-mailbox: 1*list-char / string (RFC 9051 9),
// list-char being ATOM-CHAR, "%", "*" or "]".
func (d *Decoder) listMailbox() (string, error) {
	var s string
	switch d.peek() {
	case '"':
		var err error
		if s, err = d.quoted(); err != nil {
			return "", err
		}
	case '{':
		var err error
		if s, err = d.literalString(); err != nil {
			return "", err
		}
	default:
		i := d.pos
		for i < len(d.line) {
			c := d.line[i]
			if !(isAStringChar(c) || c == '%' || c == '*' || (c >= 0x80 && d.utf8)) {
				break
			}
			i++
		}
		if i == d.pos {
			return "", badf("expected a mailbox pattern at %q", d.rest())
		}
		s = string(d.line[d.pos:i])
		d.pos = i
	}
	return d.mailboxName(s)
}

// parseSelect: SELECT/EXAMINE SP mailbox [SP "(" select-param *(SP
// select-param) ")"] (RFC 9051 6.3.2, RFC 7162 3.1.8 and 3.2.5).
func (d *Decoder) parseSelect(readOnly bool) (*SelectArgs, error) {
	a := &SelectArgs{ReadOnly: readOnly}
	var err error
	a.Mailbox, err = d.mailboxParams(func(kw []byte) error {
		switch string(kw) {
		case "CONDSTORE":
			a.CondStore = true
			return nil
		case "QRESYNC":
			if a.QResync != nil {
				return badf("QRESYNC given twice")
			}
			if err := d.sp(); err != nil {
				return err
			}
			a.QResync, err = d.qresync()
			return err
		}
		return badf("unknown select parameter %q", string(kw))
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// mailboxParams parses SP mailbox [SP "(" param *(SP param) ")"], the
// form of SELECT's and CREATE's arguments: param gets each parameter's
// keyword and parses what follows it.
func (d *Decoder) mailboxParams(param func(kw []byte) error) (string, error) {
	if err := d.sp(); err != nil {
		return "", err
	}
	name, err := d.mailbox()
	if err != nil || d.atEnd() {
		return name, err
	}
	if err := d.sp(); err != nil {
		return "", err
	}
	var buf [16]byte
	err = d.list(false, func() error {
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		return param(kw)
	})
	return name, err
}

// qresync: "(" uidvalidity SP mod-sequence-value [SP known-uids]
// [SP seq-match-data] ")" (RFC 7162 3.2.5).
func (d *Decoder) qresync() (*QResyncArgs, error) {
	q := &QResyncArgs{}
	var err error
	if err = d.expect('('); err != nil {
		return nil, err
	}
	if q.UIDValidity, err = d.nzNumber(); err != nil {
		return nil, err
	}
	if err = d.sp(); err != nil {
		return nil, err
	}
	if q.ModSeq, err = d.number64(); err != nil {
		return nil, err
	}
	if q.ModSeq == 0 {
		return nil, badf("QRESYNC mod-sequence-value must not be zero")
	}
	if d.peek() == ' ' && d.pos+1 < len(d.line) && d.line[d.pos+1] != '(' {
		d.pos++
		set, err := d.seqSet()
		if err != nil {
			return nil, err
		}
		q.KnownUIDs = &set
	}
	if d.peek() == ' ' {
		d.pos++
		if err = d.expect('('); err != nil {
			return nil, err
		}
		seqs, err := d.seqSet()
		if err != nil {
			return nil, err
		}
		if err = d.sp(); err != nil {
			return nil, err
		}
		uids, err := d.seqSet()
		if err != nil {
			return nil, err
		}
		if err = d.expect(')'); err != nil {
			return nil, err
		}
		q.SeqMatchSeqs, q.SeqMatchUIDs = &seqs, &uids
	}
	if err = d.expect(')'); err != nil {
		return nil, err
	}
	return q, nil
}

// parseCreate: CREATE SP mailbox [SP "(" create-param ... ")"], with the
// USE parameter of RFC 6154 5.1.
func (d *Decoder) parseCreate() (*CreateArgs, error) {
	a := &CreateArgs{}
	var err error
	a.Mailbox, err = d.mailboxParams(func(kw []byte) error {
		if string(kw) != "USE" {
			return badf("unknown CREATE parameter %q", string(kw))
		}
		if err := d.sp(); err != nil {
			return err
		}
		return d.list(false, func() error {
			if err := d.expect('\\'); err != nil {
				return err
			}
			b, err := d.atom()
			if err != nil {
				return err
			}
			a.SpecialUse = append(a.SpecialUse, specialUse(b))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// specialUse returns the canonical spelling of a RFC 6154 2 attribute
// (without its backslash in b).
func specialUse(b []byte) string {
	for _, s := range [...]string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`, `\Important`} {
		if strings.EqualFold(s[1:], string(b)) {
			return s
		}
	}
	return `\` + string(b)
}

// parseList: LIST [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts] (RFC 9051 6.3.9, RFC 5258, RFC 5819); LSUB SP
// mailbox SP list-mailbox (RFC 3501 6.3.9).
func (d *Decoder) parseList(lsub bool) (*ListArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &ListArgs{LSUB: lsub}
	var buf [16]byte
	if d.peek() == '(' && !lsub {
		a.Select = []string{}
		err := d.list(true, func() error {
			kw, err := d.keyword(buf[:0])
			if err != nil {
				return err
			}
			switch string(kw) {
			case "SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE":
				a.Select = append(a.Select, string(kw))
				return nil
			}
			return badf("unknown LIST selection option %q", string(kw))
		})
		if err != nil {
			return nil, err
		}
		// RFC 5258 3.1: RECURSIVEMATCH alone is an error.
		if contains(a.Select, "RECURSIVEMATCH") && len(a.Select) == countOf(a.Select, "RECURSIVEMATCH") {
			return nil, badf("RECURSIVEMATCH needs another selection option")
		}
		if err := d.sp(); err != nil {
			return nil, err
		}
	}
	var err error
	if a.Reference, err = d.mailbox(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if d.peek() == '(' && !lsub {
		err = d.list(false, func() error {
			p, err := d.listMailbox()
			a.Patterns = append(a.Patterns, p)
			return err
		})
	} else {
		var p string
		p, err = d.listMailbox()
		a.Patterns = []string{p}
	}
	if err != nil {
		return nil, err
	}
	if d.atEnd() || lsub {
		return a, nil
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	kw, err := d.keyword(buf[:0])
	if err != nil {
		return nil, err
	}
	if string(kw) != "RETURN" {
		return nil, badf("expected RETURN")
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	err = d.list(true, func() error {
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		switch string(kw) {
		case "SUBSCRIBED":
			a.ReturnSubscribed = true
		case "CHILDREN":
			a.ReturnChildren = true
		case "SPECIAL-USE":
			a.ReturnSpecialUse = true
		case "STATUS":
			if err := d.sp(); err != nil {
				return err
			}
			items, err := d.statusItems()
			if err != nil {
				return err
			}
			a.ReturnStatus = append(a.ReturnStatus, items...)
		default:
			return badf("unknown LIST return option %q", string(kw))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

func contains(list []string, s string) bool {
	return countOf(list, s) > 0
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// parseStatus: STATUS SP mailbox SP "(" status-att *(SP status-att) ")"
// (RFC 9051 6.3.11).
func (d *Decoder) parseStatus() (*StatusArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &StatusArgs{}
	var err error
	if a.Mailbox, err = d.mailbox(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if a.Items, err = d.statusItems(); err != nil {
		return nil, err
	}
	return a, nil
}

// statusItems reads a parenthesized list of status-att.
func (d *Decoder) statusItems() ([]string, error) {
	var items []string
	var buf [16]byte
	err := d.list(false, func() error {
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		name := statusItem(kw)
		if name == "" {
			return badf("unknown STATUS item %q", string(kw))
		}
		items = append(items, name)
		return nil
	})
	return items, err
}

// statusItem returns the canonical status-att for kw, or "".
func statusItem(kw []byte) string {
	switch string(kw) {
	case "MESSAGES":
		return "MESSAGES"
	case "UIDNEXT":
		return "UIDNEXT"
	case "UIDVALIDITY":
		return "UIDVALIDITY"
	case "UNSEEN":
		return "UNSEEN"
	case "DELETED":
		return "DELETED"
	case "DELETED-STORAGE":
		return "DELETED-STORAGE" // RFC 9208 4.2
	case "SIZE":
		return "SIZE"
	case "RECENT":
		return "RECENT"
	case "HIGHESTMODSEQ":
		return "HIGHESTMODSEQ"
	case "APPENDLIMIT":
		return "APPENDLIMIT"
	case "MAILBOXID":
		return "MAILBOXID"
	}
	return ""
}
