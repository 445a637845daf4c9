package imapwire

import "strings"

// maxSearchDepth bounds the nesting of NOT, OR and parentheses so that a
// hostile command cannot exhaust the stack.
const maxSearchDepth = 64

// parseSearch: SEARCH [search-return-opts] SP search-program, with
// search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)
// (RFC 9051 6.4.4, ESEARCH RFC 4731 3.1, SEARCHRES RFC 5182).
func (d *Decoder) parseSearch() (*SearchArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &SearchArgs{}
	if d.isWord("RETURN") {
		ret, partial, err := d.returnOpts()
		if err != nil {
			return nil, err
		}
		a.Return, a.Partial = ret, partial
	}
	if d.isWord("CHARSET") {
		d.pos += len("CHARSET")
		if err := d.sp(); err != nil {
			return nil, err
		}
		cs, err := d.astring()
		if err != nil {
			return nil, err
		}
		a.Charset = strings.ToUpper(cs)
		if err := d.sp(); err != nil {
			return nil, err
		}
	}
	key, err := d.searchKeys()
	if err != nil {
		return nil, err
	}
	a.Key = key
	return a, nil
}

// returnOpts reads "RETURN" SP "(" [option *(SP option)] ")" SP, upper
// case: MIN, MAX, ALL, COUNT (RFC 4731 3.1, for SORT RFC 5267 3.1), SAVE
// (RFC 5182), UPDATE and CONTEXT (RFC 5267 4.2, 4.3) and PARTIAL with its
// range (RFC 9394 3.1), returned apart.
// Never nil: empty for "RETURN ()".
func (d *Decoder) returnOpts() ([]string, *PartialRange, error) {
	d.pos += len("RETURN")
	if err := d.sp(); err != nil {
		return nil, nil, err
	}
	ret := []string{}
	var partial *PartialRange
	var buf [16]byte
	err := d.list(true, func() error {
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		switch string(kw) {
		case "MIN":
			ret = append(ret, "MIN")
		case "MAX":
			ret = append(ret, "MAX")
		case "ALL":
			ret = append(ret, "ALL")
		case "COUNT":
			ret = append(ret, "COUNT")
		case "SAVE":
			ret = append(ret, "SAVE")
		case "UPDATE":
			ret = append(ret, "UPDATE") // RFC 5267 4.3
		case "CONTEXT":
			ret = append(ret, "CONTEXT") // RFC 5267 4.2
		case "PARTIAL":
			if err := d.sp(); err != nil {
				return err
			}
			r, err := d.partialRange()
			if err != nil {
				return err
			}
			ret, partial = append(ret, "PARTIAL"), &r
		default:
			return badf("unknown return option %q", string(kw))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ret, partial, d.sp()
}

// partialRange reads partial-range = partial-range-first /
// partial-range-last, nz-number ":" nz-number or the same with both
// numbers negative (RFC 9394 4): no "*", no 0, no mixed signs.
func (d *Decoder) partialRange() (PartialRange, error) {
	var r PartialRange
	r.Last = d.peek() == '-'
	if r.Last {
		d.pos++
	}
	var err error
	if r.From, err = d.nzNumber(); err != nil {
		return r, err
	}
	if err := d.expect(':'); err != nil {
		return r, err
	}
	if r.Last {
		if err := d.expect('-'); err != nil {
			return r, badf("PARTIAL range with mixed signs")
		}
	}
	if r.To, err = d.nzNumber(); err != nil {
		return r, err
	}
	return r, nil
}

// searchKeys reads search-key *(SP search-key), the rest of a
// search-program, as one AND node.
func (d *Decoder) searchKeys() (*SearchKey, error) {
	root := &SearchKey{Op: "AND"}
	for {
		k, err := d.searchKey()
		if err != nil {
			return nil, err
		}
		root.Children = append(root.Children, k)
		if d.peek() != ' ' {
			break
		}
		d.pos++
	}
	return root, nil
}

// isWord reports whether the line continues with word (case-insensitive)
// followed by a space.
func (d *Decoder) isWord(word string) bool {
	r := d.line[d.pos:]
	return len(r) > len(word) && r[len(word)] == ' ' && strings.EqualFold(string(r[:len(word)]), word)
}

// searchKey reads one search-key.
func (d *Decoder) searchKey() (*SearchKey, error) {
	c := d.peek()
	if c == '(' {
		if d.depth >= maxSearchDepth {
			return nil, badf("search keys nested too deeply")
		}
		d.depth++
		k := &SearchKey{Op: "AND"}
		err := d.list(false, func() error {
			child, err := d.searchKey()
			k.Children = append(k.Children, child)
			return err
		})
		d.depth--
		if err != nil {
			return nil, err
		}
		return k, nil
	}
	if ('0' <= c && c <= '9') || c == '*' || c == '$' {
		set, err := d.seqSet()
		if err != nil {
			return nil, err
		}
		return &SearchKey{Op: "SEQSET", Set: &set}, nil
	}
	var buf [24]byte
	kw, err := d.keyword(buf[:0])
	if err != nil {
		return nil, err
	}
	op := searchOp(kw)
	if op == "" {
		return nil, badf("unknown search key %q", string(kw))
	}
	k := &SearchKey{Op: op}
	switch op {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "SAVEDATESUPPORTED":
		return k, nil
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	switch op {
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		k.Value, err = d.astring()
	case "HEADER":
		if k.Field, err = d.astring(); err != nil {
			return nil, err
		}
		if err = d.sp(); err != nil {
			return nil, err
		}
		k.Value, err = d.astring()
	case "KEYWORD", "UNKEYWORD":
		var b []byte
		if b, err = d.atom(); err == nil {
			k.Field = string(b)
		}
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		k.Date, err = d.searchDate()
	case "LARGER", "SMALLER":
		k.Number, err = d.number64()
	case "OLDER", "YOUNGER":
		// RFC 5032 3: interval in seconds, nz-number.
		var n uint32
		n, err = d.nzNumber()
		k.Number = uint64(n)
	case "MODSEQ":
		// RFC 7162 3.1.5: MODSEQ [SP entry-name SP entry-type-req] SP
		// mod-sequence-valzer; Field holds the entry name, Value its type.
		if d.peek() == '"' {
			if k.Field, err = d.quoted(); err != nil {
				return nil, err
			}
			// entry-flag-name = DQUOTE "/flags/" attr-flag DQUOTE (ABNF
			// literals match case-insensitively).
			if len(k.Field) <= len("/flags/") || !strings.EqualFold(k.Field[:len("/flags/")], "/flags/") {
				return nil, badf("bad MODSEQ entry name %q", k.Field)
			}
			if err = d.sp(); err != nil {
				return nil, err
			}
			t, err := d.keyword(buf[:0])
			if err != nil {
				return nil, err
			}
			switch string(t) {
			case "PRIV":
				k.Value = "priv"
			case "SHARED":
				k.Value = "shared"
			case "ALL":
				k.Value = "all"
			default:
				return nil, badf("bad MODSEQ entry type %q", string(t))
			}
			if err = d.sp(); err != nil {
				return nil, err
			}
		}
		k.Number, err = d.number64()
	case "EMAILID", "THREADID":
		// RFC 8474 6: objectid = 1*255(ALPHA / DIGIT / "_" / "-").
		var b []byte
		if b, err = d.atom(); err == nil {
			if !isObjectID(b) {
				return nil, badf("bad %s %q", op, string(b))
			}
			k.Value = string(b)
		}
	case "UID":
		var set SeqSet
		if set, err = d.seqSet(); err == nil {
			k.Set = &set
		}
	case "NOT", "OR":
		if d.depth >= maxSearchDepth {
			return nil, badf("search keys nested too deeply")
		}
		d.depth++
		defer func() { d.depth-- }()
		var child *SearchKey
		if child, err = d.searchKey(); err != nil {
			return nil, err
		}
		k.Children = append(make([]*SearchKey, 0, 2), child)
		if op == "OR" {
			if err = d.sp(); err != nil {
				return nil, err
			}
			if child, err = d.searchKey(); err != nil {
				return nil, err
			}
			k.Children = append(k.Children, child)
		}
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// searchOp returns the canonical name of a search key, or "".
func searchOp(kw []byte) string {
	switch string(kw) {
	case "ALL":
		return "ALL"
	case "ANSWERED":
		return "ANSWERED"
	case "BCC":
		return "BCC"
	case "BEFORE":
		return "BEFORE"
	case "BODY":
		return "BODY"
	case "CC":
		return "CC"
	case "DELETED":
		return "DELETED"
	case "DRAFT":
		return "DRAFT"
	case "FLAGGED":
		return "FLAGGED"
	case "FROM":
		return "FROM"
	case "HEADER":
		return "HEADER"
	case "KEYWORD":
		return "KEYWORD"
	case "LARGER":
		return "LARGER"
	case "NEW":
		return "NEW"
	case "NOT":
		return "NOT"
	case "OLD":
		return "OLD"
	case "ON":
		return "ON"
	case "OR":
		return "OR"
	case "RECENT":
		return "RECENT"
	case "SEEN":
		return "SEEN"
	case "SENTBEFORE":
		return "SENTBEFORE"
	case "SENTON":
		return "SENTON"
	case "SENTSINCE":
		return "SENTSINCE"
	case "SINCE":
		return "SINCE"
	case "SMALLER":
		return "SMALLER"
	case "SUBJECT":
		return "SUBJECT"
	case "TEXT":
		return "TEXT"
	case "TO":
		return "TO"
	case "UID":
		return "UID"
	case "UNANSWERED":
		return "UNANSWERED"
	case "UNDELETED":
		return "UNDELETED"
	case "UNDRAFT":
		return "UNDRAFT"
	case "UNFLAGGED":
		return "UNFLAGGED"
	case "UNKEYWORD":
		return "UNKEYWORD"
	case "UNSEEN":
		return "UNSEEN"
	case "MODSEQ":
		return "MODSEQ"
	case "OLDER":
		return "OLDER"
	case "YOUNGER":
		return "YOUNGER"
	case "SAVEDBEFORE":
		return "SAVEDBEFORE"
	case "SAVEDON":
		return "SAVEDON"
	case "SAVEDSINCE":
		return "SAVEDSINCE"
	case "SAVEDATESUPPORTED":
		return "SAVEDATESUPPORTED"
	case "EMAILID":
		return "EMAILID"
	case "THREADID":
		return "THREADID"
	}
	return ""
}

// isObjectID reports whether b is an RFC 8474 objectid.
func isObjectID(b []byte) bool {
	if len(b) == 0 || len(b) > 255 {
		return false
	}
	for _, c := range b {
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
