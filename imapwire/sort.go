package imapwire

import "strings"

// SortArgs are the arguments of SORT and UID SORT (RFC 5256 3, with the
// ESORT return options of RFC 5267 3.1 and SORT=DISPLAY's keys of
// RFC 5957).
type SortArgs struct {
	// Return holds the RETURN options upper case (MIN, MAX, ALL, COUNT,
	// SAVE, PARTIAL, UPDATE, CONTEXT); nil when there was no RETURN, empty for "RETURN ()".
	Return   []string
	Partial  *PartialRange // the range of RETURN (PARTIAL ...), RFC 9394
	Criteria []SortCriterion
	Charset  string // upper case; SORT requires one
	Key      *SearchKey
}

// SortCriterion is one sort key: Key is ARRIVAL, CC, DATE, FROM, SIZE,
// SUBJECT, TO, DISPLAYFROM or DISPLAYTO; Reverse says it was preceded by
// REVERSE.
type SortCriterion struct {
	Key     string
	Reverse bool
}

// ThreadArgs are the arguments of THREAD and UID THREAD (RFC 5256 3).
type ThreadArgs struct {
	Algorithm string // upper case, as the client named it
	Charset   string // upper case
	Key       *SearchKey
}

// parseSort: SORT [SP sort-return-opts] SP sort-criteria SP
// search-charset SP search-key *(SP search-key) (RFC 5256 5, RFC 5267 3.1).
func (d *Decoder) parseSort() (*SortArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &SortArgs{}
	if d.isWord("RETURN") {
		ret, partial, err := d.returnOpts()
		if err != nil {
			return nil, err
		}
		a.Return, a.Partial = ret, partial
	}
	var buf [16]byte
	reverse := false
	err := d.list(false, func() error {
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		key := sortKey(kw)
		if key == "" {
			return badf("unknown sort criterion %q", string(kw))
		}
		if key == "REVERSE" {
			if reverse {
				return badf("REVERSE twice")
			}
			reverse = true
			return nil
		}
		a.Criteria = append(a.Criteria, SortCriterion{Key: key, Reverse: reverse})
		reverse = false
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reverse {
		return nil, badf("REVERSE without a sort key")
	}
	if a.Charset, err = d.charsetArg(); err != nil {
		return nil, err
	}
	a.Key, err = d.searchKeys()
	return a, err
}

// parseThread: THREAD SP thread-alg SP search-charset 1*(SP search-key)
// (RFC 5256 5).
func (d *Decoder) parseThread() (*ThreadArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	alg, err := d.atom()
	if err != nil {
		return nil, err
	}
	a := &ThreadArgs{Algorithm: strings.ToUpper(string(alg))}
	if a.Charset, err = d.charsetArg(); err != nil {
		return nil, err
	}
	a.Key, err = d.searchKeys()
	return a, err
}

// charsetArg reads SP search-charset SP, the charset that SORT and
// THREAD require, upper case.
func (d *Decoder) charsetArg() (string, error) {
	if err := d.sp(); err != nil {
		return "", err
	}
	cs, err := d.astring()
	if err != nil {
		return "", err
	}
	return strings.ToUpper(cs), d.sp()
}

// sortKey returns the canonical name of a sort-key (RFC 5256 5, RFC 5957
// 4) or REVERSE, or "".
func sortKey(kw []byte) string {
	switch string(kw) {
	case "ARRIVAL":
		return "ARRIVAL"
	case "CC":
		return "CC"
	case "DATE":
		return "DATE"
	case "FROM":
		return "FROM"
	case "SIZE":
		return "SIZE"
	case "SUBJECT":
		return "SUBJECT"
	case "TO":
		return "TO"
	case "DISPLAYFROM":
		return "DISPLAYFROM"
	case "DISPLAYTO":
		return "DISPLAYTO"
	case "REVERSE":
		return "REVERSE"
	}
	return ""
}
