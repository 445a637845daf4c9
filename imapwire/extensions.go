package imapwire

// extensionCommandName names the commands of the QUOTA (RFC 9208),
// METADATA (RFC 5464), UNAUTHENTICATE (RFC 8437), URLAUTH (RFC 4467) and
// REPLACE (RFC 8508), COMPRESS (RFC 4978), CONTEXT=SEARCH (RFC 5267) and
// NOTIFY (RFC 5465)
// extensions, and of the proxy hop (XPROXY, XRESUME: proxyhop.go) (kw upper case), or returns "".
func extensionCommandName(kw []byte) string {
	switch string(kw) {
	case "GETQUOTA":
		return "GETQUOTA"
	case "GETQUOTAROOT":
		return "GETQUOTAROOT"
	case "SETQUOTA":
		return "SETQUOTA"
	case "GETMETADATA":
		return "GETMETADATA"
	case "SETMETADATA":
		return "SETMETADATA"
	case "UNAUTHENTICATE":
		return "UNAUTHENTICATE"
	case "GENURLAUTH":
		return "GENURLAUTH"
	case "RESETKEY":
		return "RESETKEY"
	case "URLFETCH":
		return "URLFETCH"
	case "REPLACE":
		return "REPLACE"
	case "COMPRESS":
		return "COMPRESS"
	case "CANCELUPDATE":
		return "CANCELUPDATE"
	case "NOTIFY":
		return "NOTIFY"
	case "XPROXY":
		return "XPROXY"
	case "XRESUME":
		return "XRESUME"
	}
	return ""
}

// parseExtensionArgs parses the arguments of a command named by
// extensionCommandName; ok is false for another command.
func (d *Decoder) parseExtensionArgs(name string) (args any, ok bool, err error) {
	switch name {
	case "GETQUOTA":
		args, err = d.parseGetQuota()
	case "GETQUOTAROOT":
		if err = d.sp(); err != nil {
			return nil, true, err
		}
		var mbox string
		if mbox, err = d.mailbox(); err != nil {
			return nil, true, err
		}
		args = &MailboxArgs{Mailbox: mbox}
	case "SETQUOTA":
		args, err = d.parseSetQuota()
	case "GETMETADATA":
		args, err = d.parseGetMetadata()
	case "SETMETADATA":
		args, err = d.parseSetMetadata()
	case "UNAUTHENTICATE":
	case "GENURLAUTH":
		args, err = d.parseGenURLAuth()
	case "RESETKEY":
		args, err = d.parseResetKey()
	case "URLFETCH":
		args, err = d.parseURLFetch()
	case "REPLACE":
		args, err = d.parseReplace()
	case "COMPRESS":
		args, err = d.parseCompress()
	case "CANCELUPDATE":
		args, err = d.parseCancelUpdate()
	case "NOTIFY":
		args, err = d.parseNotify()
	case "XPROXY":
		args, err = d.parseXProxy()
	case "XRESUME":
		args, err = d.parseXResume()
	default:
		return nil, false, nil
	}
	return args, true, err
}

// CompressArgs are the arguments of COMPRESS (RFC 4978 3).
type CompressArgs struct {
	Mechanism string // upper case, e.g. "DEFLATE"
}

// parseCompress: COMPRESS SP algorithm (RFC 4978 5; algorithm is an atom).
func (d *Decoder) parseCompress() (*CompressArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	var buf [32]byte
	mech, err := d.keyword(buf[:0])
	if err != nil {
		return nil, err
	}
	return &CompressArgs{Mechanism: string(mech)}, nil
}

// CancelUpdateArgs are CANCELUPDATE's arguments (RFC 5267 4.3.5): the tags
// of the searching commands whose updates end.
type CancelUpdateArgs struct {
	Tags []string
}

// parseCancelUpdate: "CANCELUPDATE" 1*(SP quoted) (RFC 5267 5).
func (d *Decoder) parseCancelUpdate() (*CancelUpdateArgs, error) {
	a := &CancelUpdateArgs{}
	for {
		if err := d.sp(); err != nil {
			return nil, err
		}
		if d.peek() != '"' {
			return nil, badf("CANCELUPDATE takes quoted tags")
		}
		t, err := d.quoted()
		if err != nil {
			return nil, err
		}
		a.Tags = append(a.Tags, t)
		if d.atEnd() {
			return a, nil
		}
	}
}
