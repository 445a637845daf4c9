package imapserver

// extensionCapabilities returns the capabilities of the extensions whose
// state lives in the store (quota.go, metadata.go), after baseCaps.
func (s *Server) extensionCapabilities() string {
	caps := quotaCaps + metadataCaps
	if len(s.cfg.QuotaAdmins) > 0 {
		caps += " QUOTASET" // RFC 9208 3.3: SETQUOTA is offered
	}
	return caps
}
