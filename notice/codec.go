package notice

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Version is the notice wire form's version, its first byte.
const Version = 1

// Bounds of the wire form, checked on both ends. A mailbox name of the
// store is at most 255 bytes of folder name (maildir's maxDirName);
// MaxMailbox leaves room for another store's.
const (
	MaxUser    = 255 // bytes of a user name
	MaxMailbox = 512 // bytes of a mailbox name, and of a rename's old one
	MaxNode    = 255 // bytes of a node name
	// MaxSize bounds a notice on the wire, trailing bytes included: the
	// fixed part, four names at their bounds, and room for fields a
	// later backend may add.
	MaxSize = 4096
)

// fixedSize is the wire form's fixed part: version, kind, UIDVALIDITY,
// HIGHESTMODSEQ, UIDNEXT, At.
const fixedSize = 1 + 1 + 4 + 8 + 4 + 8

// errNotice is wrapped by every error of the codec.
var errNotice = errors.New("notice")

// MarshalBinary encodes the notice, version 1:
//
//	version   1 byte (1)
//	kind      1 byte (Kind, not 0)
//	uidvalidity, highestmodseq, uidnext
//	          4, 8, 4 bytes, big-endian
//	at        8 bytes, big-endian Unix nanoseconds (0: unknown)
//	user, mailbox, old name, node
//	          each a 2-byte big-endian length and as many bytes of UTF-8
//
// A decoder ignores bytes after these (fields added later in version 1);
// a change old decoders must not misread takes a new version. It fails
// for a notice that breaks the bounds: no user, a name too long or not
// UTF-8, kind 0.
func (n Notice) MarshalBinary() ([]byte, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, fixedSize, fixedSize+8+len(n.User)+len(n.Mailbox)+len(n.OldName)+len(n.Node))
	b[0] = Version
	b[1] = byte(n.Kind)
	binary.BigEndian.PutUint32(b[2:], n.UIDValidity)
	binary.BigEndian.PutUint64(b[6:], n.HighestModSeq)
	binary.BigEndian.PutUint32(b[14:], n.UIDNext)
	var at int64
	if !n.At.IsZero() {
		at = n.At.UnixNano()
	}
	binary.BigEndian.PutUint64(b[18:], uint64(at))
	for _, s := range [...]string{n.User, n.Mailbox, n.OldName, n.Node} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b, nil
}

// UnmarshalBinary decodes a notice MarshalBinary encoded, checking it as
// untrusted input: the version, the bounds, Validate. On error n is left
// as it was.
func (n *Notice) UnmarshalBinary(b []byte) error {
	if len(b) > MaxSize {
		return fmt.Errorf("%w: %d bytes, more than %d", errNotice, len(b), MaxSize)
	}
	if len(b) < fixedSize {
		return fmt.Errorf("%w: %d bytes, shorter than its fixed part", errNotice, len(b))
	}
	if b[0] != Version {
		return fmt.Errorf("%w: version %d, not %d", errNotice, b[0], Version)
	}
	d := Notice{
		Kind:          Kind(b[1]),
		UIDValidity:   binary.BigEndian.Uint32(b[2:]),
		HighestModSeq: binary.BigEndian.Uint64(b[6:]),
		UIDNext:       binary.BigEndian.Uint32(b[14:]),
	}
	if at := int64(binary.BigEndian.Uint64(b[18:])); at != 0 {
		d.At = time.Unix(0, at)
	}
	rest := b[fixedSize:]
	for _, dst := range [...]*string{&d.User, &d.Mailbox, &d.OldName, &d.Node} {
		if len(rest) < 2 {
			return fmt.Errorf("%w: truncated", errNotice)
		}
		l := int(binary.BigEndian.Uint16(rest))
		if len(rest)-2 < l {
			return fmt.Errorf("%w: truncated name", errNotice)
		}
		*dst = string(rest[2 : 2+l])
		rest = rest[2+l:]
	}
	if err := d.Validate(); err != nil {
		return err
	}
	*n = d
	return nil
}

// Validate checks the notice's bounds: a user, names within their bounds
// and UTF-8, a kind.
func (n Notice) Validate() error {
	if n.Kind == 0 {
		return fmt.Errorf("%w: no kind", errNotice)
	}
	for _, f := range [...]struct {
		what string
		s    string
		max  int
	}{{"user", n.User, MaxUser}, {"mailbox", n.Mailbox, MaxMailbox}, {"old name", n.OldName, MaxMailbox}, {"node", n.Node, MaxNode}} {
		if len(f.s) > f.max {
			return fmt.Errorf("%w: %s of %d bytes, more than %d", errNotice, f.what, len(f.s), f.max)
		}
		if !utf8.ValidString(f.s) {
			return fmt.Errorf("%w: %s not UTF-8", errNotice, f.what)
		}
	}
	if n.User == "" {
		return fmt.Errorf("%w: no user", errNotice)
	}
	return nil
}
