package auth

import "strings"

// CanonicalName is the one form of a user name under which Dormouse
// compares names: login, LMTP and `dormouse deliver` recipients and
// `dormouse user add/passwd/del` all look users up by it, so "alice",
// "Alice" and "ALICE" are one user (Dovecot's %Lu: the whole name, domain
// included, lower-cased). New users are stored under it; a line written
// by hand with capitals still works (its own spelling names its mail
// folder), but a second line that differs from it only in case is
// ignored.
//
// Lower-casing is Unicode's simple case mapping (strings.ToLower), so
// non-ASCII names fold too. The rule is not configurable: names that
// differ only in case would otherwise be separate users that share one
// mail folder on a case-insensitive filesystem.
func CanonicalName(name string) string {
	return strings.ToLower(name)
}
