package imapwire

import "strings"

// flag reads a flag: "\" atom or a keyword atom (RFC 9051 9, "flag").
// System flags are returned in their canonical spelling.
func (d *Decoder) flag() (string, error) {
	sys := d.peek() == '\\'
	if sys {
		d.pos++
	}
	b, err := d.atom()
	if err != nil {
		return "", err
	}
	if !sys {
		return string(b), nil
	}
	for _, f := range [...]string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`, `\Recent`} {
		if strings.EqualFold(f[1:], string(b)) {
			return f, nil
		}
	}
	return `\` + string(b), nil
}

// flagList reads "(" [flag *(SP flag)] ")".
func (d *Decoder) flagList() ([]string, error) {
	flags := []string{}
	err := d.list(true, func() error {
		f, err := d.flag()
		if err != nil {
			return err
		}
		flags = append(flags, f)
		return nil
	})
	return flags, err
}

// parseStore: STORE SP sequence-set [SP "(" UNCHANGEDSINCE SP
// mod-sequence-valzer ")"] SP store-att-flags (RFC 9051 6.4.6, RFC 7162
// 3.1.3).
func (d *Decoder) parseStore() (*StoreArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &StoreArgs{}
	var err error
	if a.Set, err = d.seqSet(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	var buf [16]byte
	if d.peek() == '(' {
		err := d.list(false, func() error {
			kw, err := d.keyword(buf[:0])
			if err != nil {
				return err
			}
			if string(kw) != "UNCHANGEDSINCE" || a.UnchangedSince != nil {
				return badf("unknown STORE modifier %q", string(kw))
			}
			if err := d.sp(); err != nil {
				return err
			}
			n, err := d.number64()
			if err != nil {
				return err
			}
			a.UnchangedSince = &n
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := d.sp(); err != nil {
			return nil, err
		}
	}
	a.Op = StoreReplace
	switch d.peek() {
	case '+':
		a.Op = StoreAdd
		d.pos++
	case '-':
		a.Op = StoreRemove
		d.pos++
	}
	kw, err := d.keyword(buf[:0])
	if err != nil {
		return nil, err
	}
	switch string(kw) {
	case "FLAGS":
	case "FLAGS.SILENT":
		a.Silent = true
	default:
		return nil, badf("expected FLAGS, +FLAGS or -FLAGS")
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if d.peek() == '(' {
		if a.Flags, err = d.flagList(); err != nil {
			return nil, err
		}
		return a, nil
	}
	a.Flags = []string{}
	for {
		f, err := d.flag()
		if err != nil {
			return nil, err
		}
		a.Flags = append(a.Flags, f)
		if d.peek() != ' ' {
			return a, nil
		}
		d.pos++
	}
}
