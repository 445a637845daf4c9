package imapwire

// The proxy hop's commands (docs/design.md, "The proxy hop"): a trusted
// proxy opens a session for a user it authenticated (XPROXY), or resumes
// one from the state blob the backend handed it (XRESUME). The server
// decides whether they exist (only with a shared secret configured);
// the Decoder only parses them.

// XProxyArgs are XPROXY's arguments: XPROXY SP secret SP user SP
// client-address, each an astring.
type XProxyArgs struct {
	Secret, User, ClientAddr string
}

// XResumeArgs are XRESUME's arguments: XRESUME SP secret [SP
// client-address] SP literal (the state blob, "{n}", "{n+}" or "~{n}"; it
// may hold any byte).
type XResumeArgs struct {
	Secret     string
	ClientAddr string // "" when the proxy did not give one
	Blob       []byte
}

// parseXProxy: XPROXY SP astring SP astring SP astring.
func (d *Decoder) parseXProxy() (*XProxyArgs, error) {
	var a XProxyArgs
	for _, p := range []*string{&a.Secret, &a.User, &a.ClientAddr} {
		if err := d.sp(); err != nil {
			return nil, err
		}
		s, err := d.astring()
		if err != nil {
			return nil, err
		}
		*p = s
	}
	return &a, nil
}

// parseXResume: XRESUME SP astring [SP astring] SP literal. The optional
// client address cannot be a literal: a literal there is the blob.
func (d *Decoder) parseXResume() (*XResumeArgs, error) {
	var a XResumeArgs
	var err error
	if err = d.sp(); err != nil {
		return nil, err
	}
	if a.Secret, err = d.astring(); err != nil {
		return nil, err
	}
	if err = d.sp(); err != nil {
		return nil, err
	}
	if c := d.peek(); c != '{' && c != '~' {
		if a.ClientAddr, err = d.astring(); err != nil {
			return nil, err
		}
		if err = d.sp(); err != nil {
			return nil, err
		}
	}
	if c := d.peek(); c != '{' && c != '~' {
		return nil, badf("XRESUME expects the state blob as a literal")
	}
	if a.Blob, err = d.literalBytes(true); err != nil {
		return nil, err
	}
	return &a, nil
}
