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
