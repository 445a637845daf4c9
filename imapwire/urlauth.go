package imapwire

import "strings"

// GenURLAuthArgs are GENURLAUTH's arguments (RFC 4467 6.1): URL rumps
// and the mechanism for each, upper case.
type GenURLAuthArgs struct {
	URLs       []string
	Mechanisms []string
}

// ResetKeyArgs are RESETKEY's arguments (RFC 4467 6.2): no mailbox
// (Mailbox "" and HasMailbox false) resets every mailbox's key.
type ResetKeyArgs struct {
	Mailbox    string
	HasMailbox bool
	Mechanisms []string // upper case
}

// URLFetchArgs are URLFETCH's arguments (RFC 4467 6.3, RFC 5524 4).
type URLFetchArgs struct{ Items []URLFetchItem }

// URLFetchItem is one URL of URLFETCH: a bare URL, or a parenthesised
// one with RFC 5524 parameters (Extended).
type URLFetchItem struct {
	URL      string
	Extended bool
	// Params, upper case: BODYPARTSTRUCTURE, BINARY, BODY.
	Params []string
}

// parseGenURLAuth: GENURLAUTH 1*(SP url-rump SP mechanism) (RFC 4467 9).
func (d *Decoder) parseGenURLAuth() (*GenURLAuthArgs, error) {
	a := &GenURLAuthArgs{}
	for {
		if err := d.sp(); err != nil {
			return nil, err
		}
		u, err := d.astring()
		if err != nil {
			return nil, err
		}
		if err := d.sp(); err != nil {
			return nil, err
		}
		mech, err := d.atom()
		if err != nil {
			return nil, err
		}
		a.URLs = append(a.URLs, u)
		a.Mechanisms = append(a.Mechanisms, strings.ToUpper(string(mech)))
		if len(a.URLs) > maxURLs {
			return nil, badf("more than %d URLs", maxURLs)
		}
		if d.atEnd() {
			return a, nil
		}
	}
}

// maxURLs bounds the URLs of one GENURLAUTH or URLFETCH.
const maxURLs = 1000

// parseResetKey: RESETKEY [SP mailbox *(SP mechanism)] (RFC 4467 9).
func (d *Decoder) parseResetKey() (*ResetKeyArgs, error) {
	a := &ResetKeyArgs{}
	if d.atEnd() {
		return a, nil
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	var err error
	if a.Mailbox, err = d.mailbox(); err != nil {
		return nil, err
	}
	a.HasMailbox = true
	for !d.atEnd() {
		if err := d.sp(); err != nil {
			return nil, err
		}
		mech, err := d.atom()
		if err != nil {
			return nil, err
		}
		if len(a.Mechanisms) >= maxURLs {
			return nil, badf("too many mechanisms")
		}
		a.Mechanisms = append(a.Mechanisms, strings.ToUpper(string(mech)))
	}
	return a, nil
}

// parseURLFetch: URLFETCH 1*(SP (url / "(" url *(SP fetch-param) ")"))
// (RFC 4467 9, RFC 5524 4); fetch-param is BODYPARTSTRUCTURE, BINARY or
// BODY.
func (d *Decoder) parseURLFetch() (*URLFetchArgs, error) {
	a := &URLFetchArgs{}
	for {
		if err := d.sp(); err != nil {
			return nil, err
		}
		var it URLFetchItem
		var err error
		if d.peek() == '(' {
			d.pos++
			it.Extended = true
			if it.URL, err = d.astring(); err != nil {
				return nil, err
			}
			var buf [24]byte
			for d.peek() == ' ' {
				d.pos++
				kw, err := d.keyword(buf[:0])
				if err != nil {
					return nil, err
				}
				switch p := string(kw); p {
				case "BODYPARTSTRUCTURE", "BINARY", "BODY":
					if contains(it.Params, p) {
						return nil, badf("URLFETCH parameter %s twice", p)
					}
					it.Params = append(it.Params, p)
				default:
					return nil, badf("unknown URLFETCH parameter %q", p)
				}
			}
			if err := d.expect(')'); err != nil {
				return nil, err
			}
			// RFC 5524 4: BINARY and BODY exclude each other.
			if contains(it.Params, "BINARY") && contains(it.Params, "BODY") {
				return nil, badf("URLFETCH with both BINARY and BODY")
			}
		} else if it.URL, err = d.astring(); err != nil {
			return nil, err
		}
		a.Items = append(a.Items, it)
		if len(a.Items) > maxURLs {
			return nil, badf("more than %d URLs", maxURLs)
		}
		if d.atEnd() {
			return a, nil
		}
	}
}
