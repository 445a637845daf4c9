package imapserver

// Metrics holds the server's Prometheus collectors. Create it with
// NewMetrics and register Collectors() with a registry.
type Metrics struct{}
