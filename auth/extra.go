package auth

import "strings"

// extraFields returns the eighth field of a Dovecot passwd-file line,
// name:pass:uid:gid:gecos:home:shell:extra, where userdb and passdb
// fields are kept as space-separated key=value pairs; the field may hold
// colons of its own.
func (l line) extraFields() string {
	if l.rest == "" {
		return ""
	}
	parts := strings.SplitN(l.rest[1:], ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[5]
}

// UserField returns the values of a userdb extra field of name's line,
// in the order written: key itself and, as Dovecot reads a passwd-file
// used as a userdb, "userdb_"+key, and both followed by a number
// (quota_rule2, userdb_quota_rule3). ok is false when there is no such
// user. The file is re-read if it changed.
func (p *PasswdFile) UserField(name, key string) (values []string, ok bool, err error) {
	if err := p.reload(); err != nil {
		return nil, false, err
	}
	p.mu.Lock()
	acct, ok := p.users[CanonicalName(name)]
	p.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	for _, f := range strings.Fields(acct.extra) {
		k, v, _ := strings.Cut(f, "=")
		k = strings.TrimPrefix(k, "userdb_")
		if k == key || (strings.HasPrefix(k, key) && strings.Trim(k[len(key):], "0123456789") == "") {
			values = append(values, v)
		}
	}
	return values, true, nil
}
