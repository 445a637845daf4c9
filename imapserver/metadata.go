package imapserver

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// METADATA and METADATA-SERVER (RFC 5464): entries on the server (mailbox
// "") and on mailboxes, kept in the user's index (mailstore.MetadataUser).
// There are no shared mailboxes, so /shared/ entries are the user's as
// /private/ ones are (as Dovecot keeps them). /private/specialuse on a
// mailbox is its SPECIAL-USE attribute (RFC 6154 4), the one LIST shows.
// Changes made by other sessions are not announced with unsolicited
// METADATA responses (RFC 5464 4.4.2 makes them optional).

// metadataCaps are the METADATA capabilities.
const metadataCaps = " METADATA METADATA-SERVER"

// maxEntryName bounds an entry name's length.
const maxEntryName = 1024

// entryName checks an entry name (RFC 5464 3.2) and returns it in lower
// case (entry names are case-insensitive): it starts with /private/ or
// /shared/ and has no "*", "%", empty component, trailing "/" or control
// character. With prefixOK the bare /private and /shared are accepted
// too (GETMETADATA with DEPTH).
func entryName(e string, prefixOK bool) (string, error) {
	l := strings.ToLower(e)
	bad := func(why string) error { return errBAD("", fmt.Sprintf("Invalid entry name %q: %s", e, why)) }
	if prefixOK && (l == "/private" || l == "/shared") {
		return l, nil
	}
	if !strings.HasPrefix(l, "/private/") && !strings.HasPrefix(l, "/shared/") {
		return "", bad("must start with /private/ or /shared/")
	}
	if len(l) > maxEntryName {
		return "", bad("too long")
	}
	if strings.HasSuffix(l, "/") || strings.Contains(l, "//") {
		return "", bad("empty component")
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; c < 0x20 || c == 0x7f || c == '*' || c == '%' {
			return "", bad("forbidden character")
		}
	}
	return l, nil
}

// metadataUser returns the session user's metadata interface.
func (c *conn) metadataUser() (mailstore.MetadataUser, error) {
	m, ok := c.user.(mailstore.MetadataUser)
	if !ok {
		return nil, errNO("CANNOT", "METADATA is not supported by this mail store")
	}
	return m, nil
}

// metadataMailbox gives the store's name of a METADATA mailbox argument:
// "" (the server) stays "".
func metadataMailbox(name string) string {
	if name == "" {
		return ""
	}
	return canonicalName(name)
}

// handleGetMetadata serves GETMETADATA (RFC 5464 4.2). Entries asked for
// that have no value come back as NIL; MAXSIZE leaves larger values out
// and reports the largest left out with [METADATA LONGENTRIES n]
// (4.2.1).
func handleGetMetadata(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.GetMetadataArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	names := make([]string, len(a.Entries))
	for i, e := range a.Entries {
		n, err := entryName(e, true)
		if err != nil {
			return err
		}
		names[i] = n
	}
	mu, err := c.metadataUser()
	if err != nil {
		return err
	}
	mbox := metadataMailbox(a.Mailbox)
	entries, err := mu.GetMetadata(c.ctx, mbox, names, a.Depth)
	if err != nil {
		return storeError(err)
	}
	// Names asked for without a value are reported as NIL.
	have := make(map[string]bool, len(entries))
	for _, e := range entries {
		have[e.Name] = true
	}
	for _, n := range names {
		if !have[n] && n != "/private" && n != "/shared" {
			have[n] = true
			entries = append(entries, mailstore.MetadataEntry{Name: n})
		}
	}
	var longest int64
	wrote := false
	for _, e := range entries {
		if a.MaxSize >= 0 && int64(len(e.Value)) > a.MaxSize {
			longest = max(longest, int64(len(e.Value)))
			continue
		}
		if !wrote {
			c.w.Raw("* METADATA ")
			if mbox == "" {
				c.w.Raw(`""`)
			} else {
				c.w.Mailbox(mbox)
			}
			c.w.Raw(" (")
			wrote = true
		} else {
			c.w.SP()
		}
		c.w.AString(e.Name).SP()
		writeMetadataValue(c.w, e.Value)
	}
	if wrote {
		c.w.Raw(")").CRLF()
	}
	if longest > 0 {
		c.okCode = "METADATA LONGENTRIES " + strconv.FormatInt(longest, 10)
		c.okText = "GETMETADATA completed"
	}
	return nil
}

// writeMetadataValue writes a value as NIL, a string, or a literal8 when
// it holds NUL (RFC 5464 5: value = nstring / literal8).
func writeMetadataValue(w *imapwire.Writer, v []byte) {
	switch {
	case v == nil:
		w.NIL()
	case bytes.IndexByte(v, 0) >= 0:
		w.LiteralHeader(int64(len(v)), true).RawBytes(v)
	default:
		w.String(string(v))
	}
}

// handleSetMetadata serves SETMETADATA (RFC 5464 4.3): all the entries
// are set, or none.
func handleSetMetadata(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.SetMetadataArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	entries := make([]mailstore.MetadataEntry, len(a.Values))
	for i, v := range a.Values {
		n, err := entryName(v.Entry, false)
		if err != nil {
			return err
		}
		entries[i] = mailstore.MetadataEntry{Name: n, Value: v.Value}
		if !v.Nil && v.Value == nil {
			entries[i].Value = []byte{}
		}
	}
	mu, err := c.metadataUser()
	if err != nil {
		return err
	}
	l := c.srv.limits
	limits := mailstore.MetadataLimits{MaxEntrySize: l.MaxMetadataEntrySize, MaxEntries: l.MaxMetadataEntries, MaxTotalSize: l.MaxMetadataSize}
	mbox := metadataMailbox(a.Mailbox)
	defer c.ownChange(mailstore.MetadataChanged, mailstore.CanonicalName(mbox))()
	err = mu.SetMetadata(c.ctx, mbox, entries, limits)
	var tb *mailstore.MetadataTooBigError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tb):
		return &respError{code: "METADATA MAXSIZE " + strconv.FormatInt(tb.Max, 10), text: "Value too large", err: err}
	case errors.Is(err, mailstore.ErrMetadataTooMany):
		return &respError{code: "METADATA TOOMANY", text: "Too many entries", err: err}
	case errors.Is(err, mailstore.ErrBadSpecialUse):
		return &respError{code: "USEATTR", text: "Unsupported special-use attribute", err: err}
	}
	return storeError(err)
}
