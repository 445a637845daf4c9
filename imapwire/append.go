package imapwire

import (
	"fmt"
	"io"
	"os"
)

// parseAppend: APPEND SP mailbox 1*(SP [flag-list SP] [date-time SP]
// append-data) (RFC 9051 6.3.12, MULTIAPPEND RFC 3502 6, literal8 RFC
// 3516 4.4, CATENATE RFC 4469 5).
func (d *Decoder) parseAppend() (*AppendArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &AppendArgs{}
	var err error
	if a.Mailbox, err = d.mailbox(); err != nil {
		return nil, err
	}
	for {
		if err := d.sp(); err != nil {
			return nil, err
		}
		m, err := d.appendMessage()
		if err != nil {
			return nil, err
		}
		a.Messages = append(a.Messages, m)
		if d.atEnd() {
			return a, nil
		}
	}
}

// appendMessage reads [flag-list SP] [date-time SP] (append-data or
// CATENATE), one message of APPEND or REPLACE.
func (d *Decoder) appendMessage() (AppendMessage, error) {
	var m AppendMessage
	var err error
	if d.peek() == '(' {
		if m.Flags, err = d.flagList(); err != nil {
			return m, err
		}
		if err := d.sp(); err != nil {
			return m, err
		}
	}
	if d.peek() == '"' {
		if m.Date, err = d.dateTime(); err != nil {
			return m, err
		}
		if err := d.sp(); err != nil {
			return m, err
		}
	}
	if c := d.peek(); c == 'c' || c == 'C' {
		m.Parts, err = d.catenate()
		return m, err
	}
	m.Literal, m.Binary, err = d.appendLiteral()
	return m, err
}

// MaxCatenateParts bounds the parts of one CATENATE message, so that a
// command of many empty parts cannot make the server work without end.
const MaxCatenateParts = 1000

// catenate reads "CATENATE" SP "(" cat-part *(SP cat-part) ")", cat-part
// being "TEXT" SP literal or "URL" SP astring (RFC 4469 5); with BINARY a
// TEXT part may be a literal8 (RFC 4469 4.1 leaves binary data to RFC
// 3516, whose literal8 APPEND takes).
func (d *Decoder) catenate() ([]CatPart, error) {
	var buf [16]byte
	kw, err := d.keyword(buf[:0])
	if err != nil {
		return nil, err
	}
	if string(kw) != "CATENATE" {
		return nil, badf("expected a message literal or CATENATE at %q", d.rest())
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	var parts []CatPart
	err = d.list(false, func() error {
		if len(parts) >= MaxCatenateParts {
			return badf("more than %d CATENATE parts", MaxCatenateParts)
		}
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		var p CatPart
		switch string(kw) {
		case "TEXT":
			if err := d.sp(); err != nil {
				return err
			}
			if p.Text, p.Binary, err = d.appendLiteral(); err != nil {
				return err
			}
		case "URL":
			if err := d.sp(); err != nil {
				return err
			}
			if p.URL, err = d.astring(); err != nil {
				return err
			}
			if p.URL == "" {
				return badf("empty URL")
			}
		default:
			return badf("expected TEXT or URL in CATENATE, not %q", string(kw))
		}
		parts = append(parts, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parts, nil
}

// parseReplace: REPLACE SP seq-number SP mailbox SP append-message, and
// UID REPLACE with a UID (RFC 8508 5). The message may be a literal or
// in CATENATE form (RFC 8508 3: append-message, which CATENATE extends).
func (d *Decoder) parseReplace() (*ReplaceArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &ReplaceArgs{}
	var err error
	if a.Num, err = d.nzNumber(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if a.Mailbox, err = d.mailbox(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if a.Message, err = d.appendMessage(); err != nil {
		a.Message.close()
		return nil, err
	}
	return a, nil
}

// appendLiteral reads a message literal: in memory while the command's
// messages fit in SpoolAbove bytes, else spooled to a file.
func (d *Decoder) appendLiteral() (*Literal, bool, error) {
	if c := d.peek(); c != '{' && c != '~' {
		return nil, false, badf("expected a message literal at %q", d.rest())
	}
	n, sync, binary, err := d.literalHeader(true)
	if err != nil {
		return nil, false, err
	}
	if n > d.opts.MaxLiteral {
		// RFC 7889 4: refuse before the client sends the message.
		return nil, false, tooBig("message of %d bytes exceeds the limit of %d", n, d.opts.MaxLiteral)
	}
	if err := d.cont(n, sync); err != nil {
		return nil, false, err
	}
	lit := &Literal{Size: n}
	d.lits = append(d.lits, lit)
	if d.mem+n <= d.opts.SpoolAbove {
		lit.Bytes = make([]byte, n)
		if _, err := io.ReadFull(d.r, lit.Bytes); err != nil {
			return nil, false, fmt.Errorf("imapwire: reading literal: %w", unexpected(err))
		}
		d.mem += n
	} else if err := d.spool(lit); err != nil {
		return nil, false, err
	}
	d.litPending = false
	if err := d.nextLine(); err != nil {
		return nil, false, err
	}
	return lit, binary, nil
}

// spool copies the literal's bytes to a temporary file. When the file
// cannot be created or written (a full disk), the rest of the literal is
// read and discarded and the command refused with NO, OVERQUOTA when the
// disk or quota is full: the connection stays usable, and a client saving
// a large message learns why instead of losing its connection.
func (d *Decoder) spool(lit *Literal) error {
	f, err := os.CreateTemp(d.opts.SpoolDir, "dormouse-literal-*")
	if err != nil {
		return d.dropLiteral(lit.Size, err)
	}
	lit.File = f
	src := &io.LimitedReader{R: d.r, N: lit.Size}
	if _, err := io.Copy(f, src); err != nil {
		// A write failed, or a read: then so does the discarding, which
		// ends the connection.
		lit.Close()
		return d.dropLiteral(src.N, err)
	}
	if src.N > 0 {
		return fmt.Errorf("imapwire: spooling literal: %w", io.ErrUnexpectedEOF)
	}
	return nil
}

// dropLiteral reads and discards the n bytes left of a literal that could
// not be stored because of cause, and refuses the command with NO; the
// server maps cause to a response code (OVERQUOTA for a full disk).
func (d *Decoder) dropLiteral(n int64, cause error) error {
	if _, err := io.CopyN(io.Discard, d.r, n); err != nil {
		return fmt.Errorf("imapwire: skipping literal: %w", unexpected(err))
	}
	d.litPending = false
	return &CommandError{NO: true, Msg: "cannot store message", Err: fmt.Errorf("imapwire: spooling literal: %w", cause)}
}
