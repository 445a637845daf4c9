package imapwire

// QuotaRootArgs are the argument of GETQUOTA: a quota root name
// (RFC 9208 4.1.1).
type QuotaRootArgs struct{ Root string }

// QuotaLimit is one resource limit of SETQUOTA.
type QuotaLimit struct {
	Resource string // upper-cased: STORAGE, MESSAGE, ...
	Limit    uint64
}

// SetQuotaArgs are SETQUOTA's arguments (RFC 9208 4.1.3).
type SetQuotaArgs struct {
	Root   string
	Limits []QuotaLimit
}

// parseGetQuota: GETQUOTA SP quota-root.
func (d *Decoder) parseGetQuota() (*QuotaRootArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	root, err := d.astring()
	if err != nil {
		return nil, err
	}
	return &QuotaRootArgs{Root: root}, nil
}

// parseSetQuota: SETQUOTA SP quota-root SP "(" [setquota-resource
// *(SP setquota-resource)] ")", setquota-resource = resource-name SP
// resource-limit (RFC 9208 7).
func (d *Decoder) parseSetQuota() (*SetQuotaArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	var a SetQuotaArgs
	var err error
	if a.Root, err = d.astring(); err != nil {
		return nil, err
	}
	if err := d.sp(); err != nil {
		return nil, err
	}
	var buf [16]byte
	err = d.list(true, func() error {
		if len(a.Limits) >= 16 {
			return badf("too many resources")
		}
		kw, err := d.keyword(buf[:0])
		if err != nil {
			return err
		}
		if err := d.sp(); err != nil {
			return err
		}
		n, err := d.number64()
		if err != nil {
			return err
		}
		a.Limits = append(a.Limits, QuotaLimit{Resource: string(kw), Limit: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// extensionCommandName names the commands of the QUOTA and METADATA
// extensions (kw upper case), or returns "".
func extensionCommandName(kw []byte) string {
	switch string(kw) {
	case "GETQUOTA":
		return "GETQUOTA"
	case "GETQUOTAROOT":
		return "GETQUOTAROOT"
	case "SETQUOTA":
		return "SETQUOTA"
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
	default:
		return nil, false, nil
	}
	return args, true, err
}
