package imapwire

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// encodeCommand writes cmd back in wire form, for round-trip checks: a
// parsed command, encoded and parsed again, must come back the same.
// Strings that cannot be quoted go as non-synchronizing literals.
func encodeCommand(c *Command, utf8 bool) string {
	e := &cmdEncoder{utf8: utf8}
	b := &e.b
	b.WriteString(c.Tag)
	b.WriteByte(' ')
	if c.UID {
		b.WriteString("UID ")
	}
	b.WriteString(c.Name)
	switch a := c.Args.(type) {
	case *LoginArgs:
		e.sp().str(a.Username).sp().str(a.Password)
	case *AuthenticateArgs:
		e.sp().raw(a.Mechanism)
		if a.InitialResponse != nil {
			e.sp()
			if len(a.InitialResponse) == 0 {
				e.raw("=")
			} else {
				e.raw(base64.StdEncoding.EncodeToString(a.InitialResponse))
			}
		}
	case *EnableArgs:
		for _, c := range a.Caps {
			e.sp().raw(c)
		}
	case *SelectArgs:
		e.sp().mailbox(a.Mailbox)
		if a.CondStore || a.QResync != nil {
			e.raw(" (")
			if a.CondStore {
				e.raw("CONDSTORE")
			}
			if q := a.QResync; q != nil {
				if a.CondStore {
					e.sp()
				}
				e.raw("QRESYNC (").num(uint64(q.UIDValidity)).sp().num(q.ModSeq)
				if q.KnownUIDs != nil {
					e.sp().raw(q.KnownUIDs.String())
				}
				if q.SeqMatchSeqs != nil {
					e.raw(" (").raw(q.SeqMatchSeqs.String()).sp().raw(q.SeqMatchUIDs.String()).raw(")")
				}
				e.raw(")")
			}
			e.raw(")")
		}
	case *MailboxArgs:
		e.sp().mailbox(a.Mailbox)
	case *CreateArgs:
		e.sp().mailbox(a.Mailbox)
		if a.SpecialUse != nil {
			e.raw(" (USE (").raw(strings.Join(a.SpecialUse, " ")).raw("))")
		}
	case *RenameArgs:
		e.sp().mailbox(a.From).sp().mailbox(a.To)
	case *ListArgs:
		if a.LSUB {
			e.sp().mailbox(a.Reference).sp().mailbox(a.Patterns[0])
			break
		}
		if a.Select != nil {
			e.raw(" (").raw(strings.Join(a.Select, " ")).raw(")")
		}
		e.sp().mailbox(a.Reference).raw(" (")
		for i, p := range a.Patterns {
			if i > 0 {
				e.sp()
			}
			e.mailbox(p)
		}
		e.raw(")")
		var opts []string
		if a.ReturnSubscribed {
			opts = append(opts, "SUBSCRIBED")
		}
		if a.ReturnChildren {
			opts = append(opts, "CHILDREN")
		}
		if a.ReturnSpecialUse {
			opts = append(opts, "SPECIAL-USE")
		}
		if a.ReturnStatus != nil {
			opts = append(opts, "STATUS ("+strings.Join(a.ReturnStatus, " ")+")")
		}
		if opts != nil {
			e.raw(" RETURN (").raw(strings.Join(opts, " ")).raw(")")
		}
	case *StatusArgs:
		e.sp().mailbox(a.Mailbox).raw(" (").raw(strings.Join(a.Items, " ")).raw(")")
	case *AppendArgs:
		e.sp().mailbox(a.Mailbox)
		for _, m := range a.Messages {
			e.sp().appendMessage(m)
		}
	case *ReplaceArgs:
		e.sp().num(uint64(a.Num)).sp().mailbox(a.Mailbox).sp().appendMessage(a.Message)
	case *ExpungeArgs:
		e.sp().raw(a.Set.String())
	case *SearchArgs:
		if a.Return != nil {
			e.raw(" RETURN (").raw(strings.Join(a.Return, " ")).raw(")")
		}
		if a.Charset != "" {
			e.raw(" CHARSET ").str(a.Charset)
		}
		for _, k := range a.Key.Children {
			e.sp().key(k)
		}
	case *SortArgs:
		if a.Return != nil {
			e.raw(" RETURN (").raw(strings.Join(a.Return, " ")).raw(")")
		}
		e.raw(" (")
		for i, k := range a.Criteria {
			if i > 0 {
				e.sp()
			}
			if k.Reverse {
				e.raw("REVERSE ")
			}
			e.raw(k.Key)
		}
		e.raw(") ").str(a.Charset)
		for _, k := range a.Key.Children {
			e.sp().key(k)
		}
	case *ThreadArgs:
		e.sp().raw(a.Algorithm).sp().str(a.Charset)
		for _, k := range a.Key.Children {
			e.sp().key(k)
		}
	case *FetchArgs:
		e.sp().raw(a.Set.String()).raw(" (")
		for i, it := range a.Items {
			if i > 0 {
				e.sp()
			}
			e.fetchItem(it)
		}
		e.raw(")")
		if a.ChangedSince != 0 || a.Vanished {
			e.raw(" (CHANGEDSINCE ").num(a.ChangedSince)
			if a.Vanished {
				e.raw(" VANISHED")
			}
			e.raw(")")
		}
	case *StoreArgs:
		e.sp().raw(a.Set.String())
		if a.UnchangedSince != nil {
			e.raw(" (UNCHANGEDSINCE ").num(*a.UnchangedSince).raw(")")
		}
		e.sp().raw([...]string{"+", "-", ""}[a.Op]).raw("FLAGS")
		if a.Silent {
			e.raw(".SILENT")
		}
		e.raw(" (").raw(strings.Join(a.Flags, " ")).raw(")")
	case *CopyArgs:
		e.sp().raw(a.Set.String()).sp().mailbox(a.Mailbox)
	case *GenURLAuthArgs:
		for i, u := range a.URLs {
			e.sp().str(u).sp().raw(a.Mechanisms[i])
		}
	case *ResetKeyArgs:
		if a.HasMailbox {
			e.sp().mailbox(a.Mailbox)
			for _, m := range a.Mechanisms {
				e.sp().raw(m)
			}
		}
	case *CancelUpdateArgs:
		for _, t := range a.Tags {
			e.sp().str(t)
		}
	case *URLFetchArgs:
		for _, it := range a.Items {
			e.sp()
			if !it.Extended {
				e.str(it.URL)
				continue
			}
			e.raw("(").str(it.URL)
			for _, p := range it.Params {
				e.sp().raw(p)
			}
			e.raw(")")
		}
	case *IDArgs:
		if a.Params == nil {
			e.raw(" NIL")
			break
		}
		e.raw(" (")
		for i, p := range a.Params {
			if i > 0 {
				e.sp()
			}
			e.str(p)
		}
		e.raw(")")
	}
	b.WriteString("\r\n")
	return b.String()
}

type cmdEncoder struct {
	b    strings.Builder
	utf8 bool
}

func (e *cmdEncoder) raw(s string) *cmdEncoder { e.b.WriteString(s); return e }
func (e *cmdEncoder) sp() *cmdEncoder          { return e.raw(" ") }
func (e *cmdEncoder) num(n uint64) *cmdEncoder { return e.raw(strconv.FormatUint(n, 10)) }

// str writes s quoted when it can be, else as a literal.
// literal writes a message literal as a non-synchronizing one.
func (e *cmdEncoder) literal(l *Literal, binary bool) {
	data := l.Bytes
	if l.File != nil {
		data = make([]byte, l.Size)
		l.File.ReadAt(data, 0)
	}
	if binary {
		e.raw("~")
	}
	e.raw("{").num(uint64(len(data))).raw("+}\r\n").raw(string(data))
}

// appendMessage writes one message of APPEND or REPLACE: flags, date,
// then a literal or a CATENATE list.
func (e *cmdEncoder) appendMessage(m AppendMessage) {
	if m.Flags != nil {
		e.raw("(").raw(strings.Join(m.Flags, " ")).raw(") ")
	}
	if !m.Date.IsZero() {
		e.raw(m.Date.Format(`"02-Jan-2006 15:04:05 -0700" `))
	}
	if m.Parts == nil {
		e.literal(m.Literal, m.Binary)
		return
	}
	e.raw("CATENATE (")
	for i, p := range m.Parts {
		if i > 0 {
			e.sp()
		}
		if p.Text != nil {
			e.raw("TEXT ")
			e.literal(p.Text, p.Binary)
		} else {
			e.raw("URL ").str(p.URL)
		}
	}
	e.raw(")")
}

func (e *cmdEncoder) str(s string) *cmdEncoder {
	if quotable(s, e.utf8) {
		return e.raw(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`)
	}
	return e.raw("{").num(uint64(len(s))).raw("+}\r\n").raw(s)
}

func (e *cmdEncoder) mailbox(s string) *cmdEncoder {
	if !e.utf8 {
		s = EncodeMUTF7(s)
	}
	return e.str(s)
}

func (e *cmdEncoder) key(k *SearchKey) *cmdEncoder {
	switch k.Op {
	case "AND":
		e.raw("(")
		for i, c := range k.Children {
			if i > 0 {
				e.sp()
			}
			e.key(c)
		}
		return e.raw(")")
	case "SEQSET":
		return e.raw(k.Set.String())
	case "UID":
		return e.raw("UID ").raw(k.Set.String())
	case "NOT":
		return e.raw("NOT ").key(k.Children[0])
	case "OR":
		return e.raw("OR ").key(k.Children[0]).sp().key(k.Children[1])
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		return e.raw(k.Op).sp().str(k.Value)
	case "HEADER":
		return e.raw("HEADER ").str(k.Field).sp().str(k.Value)
	case "KEYWORD", "UNKEYWORD":
		return e.raw(k.Op).sp().raw(k.Field)
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		return e.raw(k.Op).sp().raw(k.Date.Format("2-Jan-2006"))
	case "LARGER", "SMALLER", "OLDER", "YOUNGER":
		return e.raw(k.Op).sp().num(k.Number)
	case "MODSEQ":
		e.raw("MODSEQ ")
		if k.Field != "" {
			e.str(k.Field).sp().raw(k.Value).sp()
		}
		return e.num(k.Number)
	}
	return e.raw(k.Op)
}

func (e *cmdEncoder) fetchItem(it FetchItem) {
	name := it.Name
	if it.Peek {
		name += ".PEEK"
	}
	e.raw(name)
	if s := it.Section; s != nil {
		e.raw("[")
		for i, p := range s.Part {
			if i > 0 {
				e.raw(".")
			}
			e.num(uint64(p))
		}
		if len(s.Part) > 0 && s.Specifier != "" {
			e.raw(".")
		}
		e.raw(s.Specifier)
		if s.Fields != nil {
			e.raw(" (")
			for i, f := range s.Fields {
				if i > 0 {
					e.sp()
				}
				e.str(f)
			}
			e.raw(")")
		}
		e.raw("]")
	}
	if p := it.Partial; p != nil {
		e.raw("<").num(uint64(p.Offset)).raw(".").num(uint64(p.Count)).raw(">")
	}
}
