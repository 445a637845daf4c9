// Package interop holds Dormouse's interoperability tests: each test starts
// a real Dormouse server on 127.0.0.1 (through internal/testserver) and
// drives it with an IMAP client nobody on the project wrote:
//
//   - github.com/emersion/go-imap/v2 imapclient (goimap_test.go);
//   - Python's imaplib, through the script in python/ (python_test.go);
//   - the npm package imapflow, through the script in imapflow/
//     (imapflow_test.go; run `npm ci` in that folder first);
//   - mbsync from Debian's isync, syncing a 1,000-message Maildir both
//     ways (mbsync_test.go);
//   - Postfix, a private instance delivering SMTP mail for
//     user+folder@domain through LMTP (postfix_test.go; needs root);
//   - Dovecot, a private instance whose Maildir mbsync, offlineimap and
//     interimap sync before Dormouse takes it over (dovecot_test.go;
//     needs root).
//   - interimap --notify between two users of a hibernating Dormouse:
//     changes reach it as NOTIFY pushes to its sleeping connections, and
//     a flag set on either side stays and reaches the other
//     (interimap_notify_test.go).
//   - Roundcube 1.6 (Debian's roundcube-core with SQLite, served by PHP's
//     built-in web server), driven like a browser over a 2,000-message
//     folder through a proxy that counts its IMAP commands and bytes per
//     page load (roundcube_test.go; ROUNDCUBE_DORMOUSE=BINARY measures an
//     older build the same way).
//
// A test whose client is not installed skips, unless REQUIRE_INTEROP=1 is
// set in the environment, when it fails instead.
//
// The package has no non-test code; this file only carries its doc.
package interop
