package imapserver

import "strconv"

// extensionCapabilities returns the capabilities of the extensions whose
// state lives in the store (quota.go, metadata.go), WITHIN,
// UNAUTHENTICATE, CATENATE, URLAUTH, OBJECTID (objectid.go), PREVIEW
// (preview.go), REPLACE (replace.go), PARTIAL (partial.go), NOTIFY
// (notify.go) and
// APPENDLIMIT, after baseCaps. LITERAL- is not among
// them: RFC 7888 5 forbids advertising it beside LITERAL+, which allows
// more (non-synchronizing literals of any size up to the literal limit).
func (s *Server) extensionCapabilities() string {
	caps := quotaCaps
	if len(s.cfg.QuotaAdmins) > 0 {
		caps += " QUOTASET" // RFC 9208 3.3: SETQUOTA is offered
	}
	caps += metadataCaps
	caps += " WITHIN" // RFC 5032: SEARCH OLDER and YOUNGER (search.go)
	caps += unauthenticateCap
	caps += " CATENATE" // RFC 4469: APPEND from TEXT literals and URLs (catenate.go)
	caps += urlauthCaps // RFC 4467, RFC 5524 (urlauth.go)
	caps += objectIDCap + previewCap + replaceCap + partialCap
	caps += " NOTIFY" // RFC 5465 (notify.go)
	// RFC 7889 3.1: the limit of every mailbox, the largest literal an
	// APPEND may send; a larger one gets NO [TOOBIG] before it is sent.
	return caps + " APPENDLIMIT=" + strconv.FormatInt(s.limits.MaxLiteral, 10)
}
