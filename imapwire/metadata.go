package imapwire

import (
	"strings"
)

// DepthInfinity is GETMETADATA's DEPTH infinity (RFC 5464 4.2.2).
const DepthInfinity = -1

// GetMetadataArgs are GETMETADATA's arguments (RFC 5464 4.2).
type GetMetadataArgs struct {
	Mailbox string // "" for server entries
	// MaxSize is the MAXSIZE option, -1 when not given (RFC 5464 4.2.1).
	MaxSize int64
	// Depth is 0, 1 or DepthInfinity (RFC 5464 4.2.2).
	Depth   int
	Entries []string
}

// MetadataValue is one entry-value of SETMETADATA.
type MetadataValue struct {
	Entry string
	Value []byte // nil with Nil
	Nil   bool   // NIL: remove the entry
}

// SetMetadataArgs are SETMETADATA's arguments (RFC 5464 4.3).
type SetMetadataArgs struct {
	Mailbox string
	Values  []MetadataValue
}

// maxMetadataItems bounds the entries one command names.
const maxMetadataItems = 1000

// metadataMailbox reads a mailbox name, where "" names the server, and
// the space after it.
func (d *Decoder) metadataMailbox() (string, error) {
	s, err := d.astring()
	if err == nil && s != "" {
		s, err = d.mailboxName(s)
	}
	if err == nil {
		err = d.sp()
	}
	return s, err
}

// parseGetMetadata: GETMETADATA [SP "(" option *(SP option) ")"] SP
// mailbox SP (entry / "(" entry *(SP entry) ")"), option = "MAXSIZE" SP
// number / "DEPTH" SP ("0" / "1" / "infinity").
func (d *Decoder) parseGetMetadata() (*GetMetadataArgs, error) {
	a := &GetMetadataArgs{MaxSize: -1}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if d.peek() == '(' {
		if err := d.getMetadataOptions(a); err != nil {
			return nil, err
		}
		if err := d.sp(); err != nil {
			return nil, err
		}
	}
	var err error
	if a.Mailbox, err = d.metadataMailbox(); err != nil {
		return nil, err
	}
	// go-imap v2's client sends the options after the mailbox; entry names
	// start with "/", so a list starting with an option name is options.
	if rest := strings.ToUpper(d.rest()); strings.HasPrefix(rest, "(MAXSIZE ") || strings.HasPrefix(rest, "(DEPTH ") {
		if err := d.getMetadataOptions(a); err != nil {
			return nil, err
		}
		if err := d.sp(); err != nil {
			return nil, err
		}
	}
	entry := func() error {
		if len(a.Entries) >= maxMetadataItems {
			return badf("too many entries")
		}
		e, err := d.astring()
		a.Entries = append(a.Entries, e)
		return err
	}
	if d.peek() == '(' {
		err = d.list(false, entry)
	} else {
		err = entry()
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// getMetadataOptions reads "(" option *(SP option) ")" into a.
func (d *Decoder) getMetadataOptions(a *GetMetadataArgs) error {
	var buf [16]byte
	return d.list(false, func() error {
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		if err := d.sp(); err != nil {
			return err
		}
		switch string(kw) {
		case "MAXSIZE":
			n, err := d.number()
			a.MaxSize = int64(n)
			return err
		case "DEPTH":
			v, err := d.atom()
			if err != nil {
				return err
			}
			switch strings.ToLower(string(v)) {
			case "0":
				a.Depth = 0
			case "1":
				a.Depth = 1
			case "infinity":
				a.Depth = DepthInfinity
			default:
				return badf("DEPTH must be 0, 1 or infinity")
			}
			return nil
		}
		return badf("unknown GETMETADATA option %q", string(kw))
	})
}

// parseSetMetadata: SETMETADATA SP mailbox SP "(" entry SP value *(SP
// entry SP value) ")", value = nstring / literal8.
func (d *Decoder) parseSetMetadata() (*SetMetadataArgs, error) {
	a := &SetMetadataArgs{}
	if err := d.sp(); err != nil {
		return nil, err
	}
	var err error
	if a.Mailbox, err = d.metadataMailbox(); err != nil {
		return nil, err
	}
	err = d.list(false, func() error {
		if len(a.Values) >= maxMetadataItems {
			return badf("too many entries")
		}
		var v MetadataValue
		var err error
		if v.Entry, err = d.astring(); err != nil {
			return err
		}
		if err := d.sp(); err != nil {
			return err
		}
		switch d.peek() {
		case '~', '{':
			v.Value, err = d.literalBytes(true)
		case '"':
			var s string
			s, err = d.quoted()
			v.Value = []byte(s)
		default:
			_, ok, nerr := d.nstring()
			v.Nil, err = !ok, nerr
		}
		a.Values = append(a.Values, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}
