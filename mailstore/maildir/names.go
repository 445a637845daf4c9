package maildir

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dormouse/dormouse/mailstore"
)

// maxLevel is the longest one level of a mailbox name may be, in bytes.
const maxLevel = 255

// maxDirName is the longest directory name most file systems accept.
const maxDirName = 255

// badName wraps mailstore.ErrBadName with the reason.
func badName(name, reason string) error {
	return fmt.Errorf("mailbox %q: %s: %w", name, reason, mailstore.ErrBadName)
}

// canonicalName validates a mailbox name and returns its canonical form:
// "INBOX" (and an "INBOX/" prefix) in upper case, everything else as given.
// RFC 9051 5.1: INBOX is case-insensitive.
func canonicalName(name string) (string, error) {
	if name == "" {
		return "", badName(name, "empty name")
	}
	if !utf8.ValidString(name) {
		return "", badName(name, "not UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", badName(name, "control character")
		}
	}
	levels := strings.Split(name, "/")
	for i, l := range levels {
		switch {
		case l == "" && i == 0:
			return "", badName(name, "leading separator")
		case l == "" && i == len(levels)-1:
			return "", badName(name, "trailing separator")
		case l == "":
			return "", badName(name, "doubled separator")
		case l == "." || l == "..":
			return "", badName(name, "relative path element")
		case len(l) > maxLevel:
			return "", badName(name, "level longer than 255 bytes")
		}
	}
	c := mailstore.CanonicalName(name)
	if len(dirName(c)) > maxDirName {
		return "", badName(name, "name too long for a Maildir++ folder")
	}
	return c, nil
}

// FolderName returns the Maildir++ folder, relative to the user's Maildir,
// that holds mailbox name: "" for INBOX, ".A.B" for "A/B". It validates and
// canonicalises name as the store does (INBOX in any case, and under it,
// is INBOX: mailstore.CanonicalName), so a writer outside the store, such
// as `dormouse deliver`, finds the folder the store uses.
func FolderName(name string) (string, error) {
	c, err := canonicalName(name)
	if err != nil {
		return "", err
	}
	return dirName(c), nil
}

// dirName maps a canonical name to its folder name inside the Maildir:
// "" for INBOX, ".A.B" for "A/B".
func dirName(name string) string {
	if name == "INBOX" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(name, "/") {
		b.WriteByte('.')
		for i := 0; i < len(l); i++ {
			switch l[i] {
			case '.':
				b.WriteString("%2E")
			case '%':
				b.WriteString("%25")
			default:
				b.WriteByte(l[i])
			}
		}
	}
	return b.String()
}

// nameFromDir is the inverse of dirName for a folder name starting with
// ".". It reports false for folders that are not mailboxes ("." and "..",
// bad escapes, names canonicalName would reject).
func nameFromDir(dir string) (string, bool) {
	if len(dir) < 2 || dir[0] != '.' || dir == ".." {
		return "", false
	}
	var b strings.Builder
	for _, l := range strings.Split(dir[1:], ".") {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		for i := 0; i < len(l); i++ {
			if l[i] != '%' {
				b.WriteByte(l[i])
				continue
			}
			switch {
			case strings.HasPrefix(l[i:], "%2E"), strings.HasPrefix(l[i:], "%2e"):
				b.WriteByte('.')
			case strings.HasPrefix(l[i:], "%25"):
				b.WriteByte('%')
			default:
				return "", false
			}
			i += 2
		}
	}
	name, err := canonicalName(b.String())
	if err != nil || dirName(name) != dir {
		return "", false
	}
	return name, true
}

// parentNames lists the proper ancestors of name, outermost first.
func parentNames(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return out
}

// isChild reports whether name is below parent in the hierarchy.
func isChild(name, parent string) bool {
	return len(name) > len(parent)+1 && name[len(parent)] == '/' && name[:len(parent)] == parent
}

// validUser checks a user name: it becomes one path element.
func validUser(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxLevel ||
		strings.ContainsAny(name, "/\\\x00") || name[0] == '.' || !utf8.ValidString(name) {
		return fmt.Errorf("invalid user name %q", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("invalid user name %q", name)
		}
	}
	return nil
}
