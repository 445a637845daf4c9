package imapwire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
)

// parseCommand parses the command whose first line is in d.line.
func (d *Decoder) parseCommand() (*Command, error) {
	// RFC 9051 9: tag = 1*<any ASTRING-CHAR except "+">.
	end := bytes.IndexByte(d.line, ' ')
	if end < 0 {
		end = len(d.line)
	}
	if !ValidTag(d.line[:end]) {
		return nil, badf("bad tag")
	}
	d.tag = string(d.line[:end])
	d.pos = end
	if err := d.checkLine(); err != nil {
		return nil, err
	}
	if d.atEnd() {
		return nil, badf("missing command")
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	var kwbuf [16]byte
	kw, err := d.keyword(kwbuf[:0])
	if err != nil {
		return nil, err
	}
	cmd := &Command{Tag: d.tag, Name: commandName(kw)}
	if cmd.Name == "UID" {
		if err := d.sp(); err != nil {
			return nil, err
		}
		if kw, err = d.keyword(kwbuf[:0]); err != nil {
			return nil, err
		}
		cmd.UID = true
		switch cmd.Name = commandName(kw); cmd.Name {
		case "FETCH", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE", "SORT", "THREAD", "REPLACE":
		default:
			return nil, badf("unknown UID command %q", string(kw))
		}
	}
	if cmd.Name == "" {
		return nil, badf("unknown command %q", string(kw))
	}
	if d.opts.Allow != nil {
		if err := d.opts.Allow(cmd.Name); err != nil {
			return nil, &CommandError{Msg: err.Error()}
		}
	}
	if cmd.Args, err = d.parseArgs(cmd); err != nil {
		return nil, err
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// commandName returns the canonical name of a command keyword (already
// upper case), or "" for an unknown one. It returns constants so that
// naming a command does not allocate.
func commandName(kw []byte) string {
	switch string(kw) {
	case "CAPABILITY":
		return "CAPABILITY"
	case "NOOP":
		return "NOOP"
	case "LOGOUT":
		return "LOGOUT"
	case "STARTTLS":
		return "STARTTLS"
	case "AUTHENTICATE":
		return "AUTHENTICATE"
	case "LOGIN":
		return "LOGIN"
	case "ENABLE":
		return "ENABLE"
	case "SELECT":
		return "SELECT"
	case "EXAMINE":
		return "EXAMINE"
	case "CREATE":
		return "CREATE"
	case "DELETE":
		return "DELETE"
	case "RENAME":
		return "RENAME"
	case "SUBSCRIBE":
		return "SUBSCRIBE"
	case "UNSUBSCRIBE":
		return "UNSUBSCRIBE"
	case "LIST":
		return "LIST"
	case "LSUB":
		return "LSUB"
	case "NAMESPACE":
		return "NAMESPACE"
	case "STATUS":
		return "STATUS"
	case "APPEND":
		return "APPEND"
	case "IDLE":
		return "IDLE"
	case "CHECK":
		return "CHECK"
	case "CLOSE":
		return "CLOSE"
	case "UNSELECT":
		return "UNSELECT"
	case "EXPUNGE":
		return "EXPUNGE"
	case "SEARCH":
		return "SEARCH"
	case "FETCH":
		return "FETCH"
	case "STORE":
		return "STORE"
	case "COPY":
		return "COPY"
	case "MOVE":
		return "MOVE"
	case "ID":
		return "ID"
	case "UID":
		return "UID"
	case "SORT":
		return "SORT"
	case "THREAD":
		return "THREAD"
	}
	return extensionCommandName(kw)
}

// parseArgs parses the arguments after the command name.
func (d *Decoder) parseArgs(cmd *Command) (any, error) {
	switch cmd.Name {
	case "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "IDLE", "CHECK", "CLOSE", "UNSELECT", "NAMESPACE":
		return nil, nil
	case "EXPUNGE":
		if !cmd.UID {
			return nil, nil
		}
		// RFC 4315 2.1: UID EXPUNGE sequence-set.
		if err := d.sp(); err != nil {
			return nil, err
		}
		set, err := d.seqSet()
		if err != nil {
			return nil, err
		}
		return &ExpungeArgs{Set: set}, nil
	case "LOGIN":
		return d.parseLogin()
	case "AUTHENTICATE":
		return d.parseAuthenticate()
	case "ENABLE":
		return d.parseEnable()
	case "SELECT", "EXAMINE":
		return d.parseSelect(cmd.Name == "EXAMINE")
	case "CREATE":
		return d.parseCreate()
	case "DELETE", "SUBSCRIBE", "UNSUBSCRIBE":
		if err := d.sp(); err != nil {
			return nil, err
		}
		mbox, err := d.mailbox()
		if err != nil {
			return nil, err
		}
		return &MailboxArgs{Mailbox: mbox}, nil
	case "RENAME":
		return d.parseRename()
	case "LIST", "LSUB":
		return d.parseList(cmd.Name == "LSUB")
	case "STATUS":
		return d.parseStatus()
	case "APPEND":
		return d.parseAppend()
	case "SEARCH":
		return d.parseSearch()
	case "SORT":
		return d.parseSort()
	case "THREAD":
		return d.parseThread()
	case "FETCH":
		return d.parseFetch(cmd.UID)
	case "STORE":
		return d.parseStore()
	case "COPY", "MOVE":
		return d.parseCopy()
	case "ID":
		return d.parseID()
	}
	if args, ok, err := d.parseExtensionArgs(cmd.Name); ok {
		return args, err
	}
	return nil, badf("unknown command %q", cmd.Name)
}

// parseLogin: LOGIN SP userid SP password (RFC 9051 6.2.3).
func (d *Decoder) parseLogin() (*LoginArgs, error) {
	var a LoginArgs
	var err error
	if err = d.sp(); err != nil {
		return nil, err
	}
	if a.Username, err = d.astring(); err != nil {
		return nil, err
	}
	if err = d.sp(); err != nil {
		return nil, err
	}
	if a.Password, err = d.astring(); err != nil {
		return nil, err
	}
	return &a, nil
}

// parseAuthenticate: AUTHENTICATE SP auth-type [SP (base64 / "=")]
// (RFC 9051 6.2.2, SASL-IR RFC 4959).
func (d *Decoder) parseAuthenticate() (*AuthenticateArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	var buf [32]byte
	mech, err := d.keyword(buf[:0])
	if err != nil {
		return nil, err
	}
	a := &AuthenticateArgs{Mechanism: string(mech)}
	if d.atEnd() {
		return a, nil
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	ir := d.line[d.pos:]
	d.pos = len(d.line)
	if a.InitialResponse, err = DecodeSASL(ir); err != nil {
		return nil, badf("bad initial response: %v", err)
	}
	return a, nil
}

// DecodeSASL decodes a SASL response line (RFC 9051 6.2.2): base64, or
// "=" for an empty response (RFC 4959). A line of "*" cancels the
// exchange; the caller checks for it first.
func DecodeSASL(b []byte) ([]byte, error) {
	if len(b) == 1 && b[0] == '=' {
		return []byte{}, nil
	}
	if len(b) == 0 {
		return nil, errEmptyBase64
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Strict().Decode(out, b)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

var errEmptyBase64 = errors.New("empty response")

// parseEnable: ENABLE 1*(SP capability) (RFC 5161).
func (d *Decoder) parseEnable() (*EnableArgs, error) {
	a := &EnableArgs{}
	for {
		if err := d.sp(); err != nil {
			return nil, err
		}
		b, err := d.atom()
		if err != nil {
			return nil, err
		}
		a.Caps = append(a.Caps, strings.ToUpper(string(b)))
		if d.atEnd() {
			return a, nil
		}
	}
}

// parseRename: RENAME SP mailbox SP mailbox.
func (d *Decoder) parseRename() (*RenameArgs, error) {
	var a RenameArgs
	var err error
	if err = d.sp(); err != nil {
		return nil, err
	}
	if a.From, err = d.mailbox(); err != nil {
		return nil, err
	}
	if err = d.sp(); err != nil {
		return nil, err
	}
	if a.To, err = d.mailbox(); err != nil {
		return nil, err
	}
	return &a, nil
}

// parseCopy: COPY/MOVE SP sequence-set SP mailbox (RFC 9051 6.4.7, 6.4.8).
func (d *Decoder) parseCopy() (*CopyArgs, error) {
	var a CopyArgs
	var err error
	if err = d.sp(); err != nil {
		return nil, err
	}
	if a.Set, err = d.seqSet(); err != nil {
		return nil, err
	}
	if err = d.sp(); err != nil {
		return nil, err
	}
	if a.Mailbox, err = d.mailbox(); err != nil {
		return nil, err
	}
	return &a, nil
}

// parseID: ID SP ("(" *(string SP nstring) ")" / NIL) (RFC 2971 4).
func (d *Decoder) parseID() (*IDArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	a := &IDArgs{}
	if d.peek() != '(' {
		b, err := d.atom()
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(string(b), "NIL") {
			return nil, badf("ID expects a list or NIL")
		}
		return a, nil
	}
	a.Params = []string{}
	err := d.list(true, func() error {
		if len(a.Params) >= 60 {
			return badf("too many ID parameters") // RFC 2971 3.3: 30 pairs
		}
		k, err := d.str()
		if err != nil {
			return err
		}
		if err := d.sp(); err != nil {
			return err
		}
		v, _, err := d.nstring()
		if err != nil {
			return err
		}
		a.Params = append(a.Params, k, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}
