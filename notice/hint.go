package notice

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// HintSocketName is the local datagram socket in the data folder on which
// `dormouse serve` takes hints: DATA/notice.sock, mode 0600 (only the
// server's own user, who owns the Maildirs and so every writer, may send).
const HintSocketName = "notice.sock"

// MaxHint bounds a hint datagram; a longer one is refused whole.
const MaxHint = 2048

// Hint tells a local server that a writer outside it changed a user's
// mailbox: a file it put into new/ or cur/ (Folder and Name), or with
// both "" anything in the mailbox. The server treats it as a folder
// watch's event for that mailbox (mailstore/maildir Store.Hint): it looks
// at the disk and trusts nothing else of it.
//
// The datagram, version 1, is one line of text:
//
//	1 USER MAILBOX [FOLDER NAME]\n
//
// fields separated by one space, each written as Token writes a name
// (letters, digits and '-' as they are, any other byte as '_' and two
// lowercase hex digits: "Archive/2026" is "Archive_2f2026"), the final
// newline optional, at most MaxHint bytes. FOLDER is "new" or "cur".
// From a shell, for plain names:
//
//	printf '1 alice INBOX\n' | socat - UNIX-SENDTO:/var/lib/dormouse/notice.sock
//
// or, for any name, `dormouse notice alice INBOX`.
type Hint struct {
	User, Mailbox string
	Folder, Name  string
}

// hintVersion is the first field of a hint datagram.
const hintVersion = "1"

var errHint = errors.New("hint")

// MarshalText encodes the hint's datagram.
func (h Hint) MarshalText() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	s := hintVersion + " " + Token(h.User) + " " + Token(h.Mailbox)
	if h.Folder != "" {
		s += " " + h.Folder + " " + Token(h.Name)
	}
	s += "\n"
	if len(s) > MaxHint {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", errHint, len(s), MaxHint)
	}
	return []byte(s), nil
}

// UnmarshalText decodes a hint datagram, checking it as untrusted input.
// On error h is left as it was.
func (h *Hint) UnmarshalText(b []byte) error {
	if len(b) > MaxHint {
		return fmt.Errorf("%w: %d bytes, more than %d", errHint, len(b), MaxHint)
	}
	s := strings.TrimSuffix(string(b), "\n")
	f := strings.Split(s, " ")
	if len(f) == 0 || f[0] != hintVersion {
		return fmt.Errorf("%w: not version %s", errHint, hintVersion)
	}
	if len(f) != 3 && len(f) != 5 {
		return fmt.Errorf("%w: %d fields, want 3 or 5", errHint, len(f))
	}
	var d Hint
	var ok bool
	if d.User, ok = ParseToken(f[1]); !ok {
		return fmt.Errorf("%w: bad user %q", errHint, f[1])
	}
	if d.Mailbox, ok = ParseToken(f[2]); !ok {
		return fmt.Errorf("%w: bad mailbox %q", errHint, f[2])
	}
	if len(f) == 5 {
		if f[3] == "" {
			return fmt.Errorf("%w: empty folder", errHint)
		}
		d.Folder = f[3]
		if d.Name, ok = ParseToken(f[4]); !ok {
			return fmt.Errorf("%w: bad file name %q", errHint, f[4])
		}
	}
	if err := d.validate(); err != nil {
		return err
	}
	*h = d
	return nil
}

// validate checks what a hint may hold; the store checks the names
// again as its own.
func (h Hint) validate() error {
	switch {
	case h.User == "" || len(h.User) > MaxUser:
		return fmt.Errorf("%w: user of %d bytes", errHint, len(h.User))
	case h.Mailbox == "" || len(h.Mailbox) > MaxMailbox:
		return fmt.Errorf("%w: mailbox of %d bytes", errHint, len(h.Mailbox))
	case h.Folder == "" && h.Name != "":
		return fmt.Errorf("%w: a file name without its folder", errHint)
	case h.Folder != "" && h.Folder != "new" && h.Folder != "cur":
		return fmt.Errorf("%w: folder %q, not new or cur", errHint, h.Folder)
	case h.Folder != "" && (h.Name == "" || len(h.Name) > 255):
		return fmt.Errorf("%w: file name of %d bytes", errHint, len(h.Name))
	}
	return nil
}

// SendHint sends h to the server listening on the datagram socket at
// path. A server that is not running (no socket, nobody reading) is an
// error the caller may ignore: it rescans what changed when it starts.
func SendHint(path string, h Hint) error {
	b, err := h.MarshalText()
	if err != nil {
		return err
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("send hint: %w", err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("send hint to %s: %w", path, err)
	}
	return nil
}
