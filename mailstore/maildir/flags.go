package maildir

import (
	"sort"
	"strings"
)

// System flags as bits of a message record.
const (
	flagAnswered uint8 = 1 << iota
	flagFlagged
	flagDeleted
	flagSeen
	flagDraft
)

// systemFlags lists the system flags with their bit and Maildir info letter.
var systemFlags = [...]struct {
	name   string
	bit    uint8
	letter byte
}{
	{`\Answered`, flagAnswered, 'R'},
	{`\Deleted`, flagDeleted, 'T'},
	{`\Draft`, flagDraft, 'D'},
	{`\Flagged`, flagFlagged, 'F'},
	{`\Seen`, flagSeen, 'S'},
}

// flagSet is a message's flags split into system bits and keywords.
type flagSet struct {
	sys      uint8
	keywords []string // sorted, unique
}

// parseFlags splits API flag strings. `\Recent` and unknown backslash flags
// are dropped: \Recent is session state (RFC 9051 2.3.2), not stored.
func parseFlags(flags []string) flagSet {
	var fs flagSet
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			for _, s := range systemFlags {
				if strings.EqualFold(f, s.name) {
					fs.sys |= s.bit
				}
			}
			continue
		}
		if f != "" {
			fs.keywords = append(fs.keywords, f)
		}
	}
	fs.keywords = uniqueSorted(fs.keywords)
	return fs
}

// uniqueSorted sorts s and drops duplicates (keywords compare
// case-insensitively, RFC 9051 2.3.2; the first spelling wins).
func uniqueSorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	sort.Strings(s)
	out := s[:0]
	for _, k := range s {
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, k) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out
}

// apply combines fs with the change of a STORE.
func (fs flagSet) apply(op int, ch flagSet) flagSet {
	switch op {
	case opAdd:
		return flagSet{fs.sys | ch.sys, uniqueSorted(append(append([]string(nil), fs.keywords...), ch.keywords...))}
	case opRemove:
		var kw []string
		for _, k := range fs.keywords {
			if !containsFold(ch.keywords, k) {
				kw = append(kw, k)
			}
		}
		return flagSet{fs.sys &^ ch.sys, kw}
	default:
		return flagSet{ch.sys, append([]string(nil), ch.keywords...)}
	}
}

// Store operations as ints so flags.go does not depend on the API enum order.
const (
	opAdd = iota
	opRemove
	opReplace
)

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (fs flagSet) equal(o flagSet) bool {
	if fs.sys != o.sys || len(fs.keywords) != len(o.keywords) {
		return false
	}
	for i := range fs.keywords {
		if fs.keywords[i] != o.keywords[i] {
			return false
		}
	}
	return true
}

// list returns the flags as sorted API strings.
func (fs flagSet) list() []string {
	out := make([]string, 0, 5+len(fs.keywords))
	for _, s := range systemFlags {
		if fs.sys&s.bit != 0 {
			out = append(out, s.name)
		}
	}
	out = append(out, fs.keywords...)
	sort.Strings(out)
	return out
}

// splitInfo splits a Maildir file name into base and info ("" when the
// name has no ":2," part).
func splitInfo(name string) (base, info string) {
	if i := strings.LastIndex(name, ":2,"); i >= 0 {
		return name[:i], name[i+3:]
	}
	return name, ""
}

// sysFromInfo reads the system flags from a Maildir info string.
func sysFromInfo(info string) uint8 {
	var sys uint8
	for i := 0; i < len(info); i++ {
		for _, s := range systemFlags {
			if info[i] == s.letter {
				sys |= s.bit
			}
		}
	}
	return sys
}

// withSys returns info with its system letters replaced by sys, keeping
// other letters, all in ASCII order as the Maildir spec asks.
func withSys(info string, sys uint8) string {
	if infoInOrder(info, sys) {
		return info
	}
	var letters []byte
	for i := 0; i < len(info); i++ {
		keep := true
		for _, s := range systemFlags {
			if info[i] == s.letter {
				keep = false
			}
		}
		if keep && info[i] > ' ' && info[i] != ',' && info[i] != '/' {
			letters = append(letters, info[i])
		}
	}
	for _, s := range systemFlags {
		if sys&s.bit != 0 {
			letters = append(letters, s.letter)
		}
	}
	sort.Slice(letters, func(i, j int) bool { return letters[i] < letters[j] })
	return string(letters)
}

// infoInOrder reports whether info already is what withSys makes of it
// with sys: its letters ascending, none twice, none that withSys drops,
// and its system letters those of sys. Most names are, and a first open
// asks this of every file.
func infoInOrder(info string, sys uint8) bool {
	var have uint8
	for i := 0; i < len(info); i++ {
		c := info[i]
		if c <= ' ' || c == ',' || c == '/' || (i > 0 && info[i-1] >= c) {
			return false
		}
		for _, s := range systemFlags {
			if c == s.letter {
				have |= s.bit
			}
		}
	}
	return have == sys
}

// fileName builds a cur/ file name from base, old info and new flags.
func fileName(base, oldInfo string, sys uint8) string {
	return base + ":2," + withSys(oldInfo, sys)
}
