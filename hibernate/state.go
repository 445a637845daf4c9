package hibernate

import (
	"bytes"
	"errors"
	"fmt"
)

// StateVersion is the version byte MarshalBinary writes first. A decoder
// rejects every other version: a blob may cross a process boundary (an
// upgrade hands sleeping connections to a new binary), and guessing at
// an unknown layout would wake a client into a wrong view.
const StateVersion = 1

// StateVersion2 is the version byte of a State that holds extension
// state a version-1 reader would ignore (a kind above extKnownToV1:
// search contexts, a re-announcement owed, NOTIFY's groups, transport
// state), in the same layout: a process that predates those kinds must
// refuse such a blob in an upgrade rather than resume the client without
// them (a compressed connection uncompressed, a NOTIFY session deaf). A
// State without them is still written as StateVersion, so that a blob
// any older process can read stays readable.
const StateVersion2 = 2

// extKnownToV1 is the highest ExtState kind a version-1 reader knows
// (imapview's \Recent, keywords, told flags and saved search: 1 to 4).
const extKnownToV1 = 4

// knownVersion reports whether v is a version byte this package decodes.
func knownVersion(v byte) bool { return v == StateVersion || v == StateVersion2 }

// needsV2 reports whether ext holds a kind a version-1 reader would
// ignore.
func needsV2(ext []ExtState) bool {
	for _, e := range ext {
		if e.Kind > extKnownToV1 {
			return true
		}
	}
	return false
}

// Extension is a bit set of the extensions a client enabled; they change
// what a replay on wake may send (VANISHED, MODSEQ, UTF-8 names, RECENT).
type Extension uint32

// Enabled extensions. New bits may be added at the end without a version
// change; a decoder keeps bits it does not know.
const (
	ExtCondStore  Extension = 1 << iota // RFC 7162 CONDSTORE
	ExtQResync                          // RFC 7162 QRESYNC
	ExtUTF8Accept                       // RFC 6855 UTF8=ACCEPT
	ExtIMAP4rev2                        // RFC 9051 IMAP4rev2
)

// UIDRange is the inclusive UID interval First..Last.
type UIDRange struct {
	First, Last uint32
}

// ExtState is the exported state of one hibernatable extension (NOTIFY
// filters, a saved search result, a compression window): opaque bytes
// owned by the extension, tagged with a kind the server assigns.
type ExtState struct {
	Kind uint32
	Data []byte
}

// ExtSession is the first ExtState kind that is not the session's view's:
// kinds below it belong to imapview, which replaces them when it exports
// and keeps the others (NOTIFY's groups, transport state).
const ExtSession uint32 = 16

// ExtDeflateWindow is the ExtState kind of a compressed connection's
// (RFC 4978) inflater state: its history (what the client's compressor
// may still refer back to) and the input bits it holds but could not use
// yet (imapserver/compress.go encodes it). Kinds from it up are
// transport state.
const ExtDeflateWindow uint32 = 64

// ExtTLSRecord is the ExtState kind of a TLS 1.3 connection's record
// state (internal/tls13rec.State: cipher suite, the two current traffic
// secrets and sequence numbers), kept instead of its tls.Conn. A
// sleeper that writes or reads moves its sequence numbers on: the blob
// must be stored again before the descriptor is armed or handed on.
const ExtTLSRecord uint32 = 65

// ExtProxyQuiet is the ExtState kind a proxy (package proxy) keeps beside
// a sleeper between commands: the count of its user's change notices
// when it last knew its mailbox as the blob says, so that a new IDLE
// answered asleep can tell whether changes wait for it. Like the other
// kinds from ExtDeflateWindow up it never leaves the process.
const ExtProxyQuiet uint32 = 66

// State is what a hibernated session needs to come back exactly
// (docs/design.md, "The state blob" and "Replay on wake"): a selected
// one, in IDLE or quiet between commands, or an authenticated one with
// no mailbox selected. The latter has Mailbox "" and every field about a
// mailbox zero (UIDValidity, UIDs, Messages, HighestModSeq, UIDNext,
// ReadOnly): it watches nothing but its socket.
type State struct {
	User     string
	Mailbox  string // as the store names it; "" when none is selected
	ReadOnly bool   // EXAMINE, or a read-only SELECT
	TLS      bool   // the socket carries TLS (implicit or after STARTTLS)

	UIDValidity uint32
	// UIDs is S, the UIDs the client knows, as ascending, non-overlapping
	// ranges; message sequence numbers are ranks in S.
	UIDs []UIDRange
	// HighestModSeq is M, the highest MODSEQ the client has been told.
	HighestModSeq uint64
	// UIDNext is N, the UIDNEXT the client has seen; it is above every
	// UID in UIDs.
	UIDNext uint32
	// Messages is the client's message count, the number of UIDs in
	// UIDs. It is not stored in the blob (it is implied by UIDs), but
	// MarshalBinary checks it, so that a session whose view and count
	// disagree is never exported.
	Messages uint32

	Enabled Extension
	IdleTag string // the tag of the IDLE command in progress; "" between commands

	// ExtState holds hibernatable extension state, by ascending Kind.
	ExtState []ExtState
}

// Flag bits of the encoded form.
const (
	flagReadOnly = 1 << iota
	flagTLS
	flagsKnown = flagReadOnly | flagTLS
)

// Errors returned by UnmarshalBinary, wrapped with the field at fault.
var (
	ErrTruncated = errors.New("hibernate: truncated state")
	ErrVersion   = errors.New("hibernate: unknown state version")
	ErrCorrupt   = errors.New("hibernate: corrupt state")
)

// Encoded layout, versions 1 and 2 (2: with extension state a version-1
// reader would ignore, see StateVersion2). Every integer is a minimal uvarint (so that
// one State has exactly one encoding, and a fuzzer can check that
// decode(encode(x)) == x byte for byte); every string is a uvarint length
// followed by its bytes.
//
//	version   byte (1)
//	flags     uvarint: 1 read-only, 2 TLS
//	enabled   uvarint: Extension bits
//	user      string
//	mailbox   string
//	idle tag  string
//	uidvalidity uvarint
//	modseq    uvarint
//	ranges    uvarint count, then per range:
//	            gap  uvarint: First - (previous Last + 1), previous Last
//	                 being 0 before the first range
//	            span uvarint: Last - First
//	uidnext   uvarint: UIDNext - (last UID + 1), usually 0
//	ext state uvarint count, then per entry:
//	            kind uvarint, delta from the previous kind + 1 (ascending)
//	            data string
//
// A state without a mailbox (authenticated only) has an empty mailbox
// string, uidvalidity 0, modseq 0, no ranges and uidnext 0.
//
// Delta-encoding the ranges keeps a typical "1:4711" in three bytes, and
// encoding UIDNext against the last UID keeps it in one.

// Validate reports whether s can be encoded: UIDValidity is non-zero, the
// ranges are ascending and disjoint, Messages counts them, UIDNext lies
// above them and ExtState kinds ascend.
func (s *State) Validate() error {
	if s.Mailbox == "" {
		if s.UIDValidity != 0 || len(s.UIDs) != 0 || s.Messages != 0 || s.HighestModSeq != 0 || s.UIDNext != 0 || s.ReadOnly {
			return errors.New("hibernate: state: mailbox fields set without a mailbox")
		}
	} else if s.UIDValidity == 0 {
		return errors.New("hibernate: state: zero UIDVALIDITY")
	}
	var next uint64 = 1 // the lowest UID the next range may start at
	var count uint64
	for i, r := range s.UIDs {
		if r.First == 0 || r.Last < r.First || uint64(r.First) < next {
			return fmt.Errorf("hibernate: state: UID range %d (%d:%d) out of order", i, r.First, r.Last)
		}
		count += uint64(r.Last-r.First) + 1
		next = uint64(r.Last) + 1
	}
	if count != uint64(s.Messages) {
		return fmt.Errorf("hibernate: state: message count %d, but %d UIDs", s.Messages, count)
	}
	if s.Mailbox != "" && uint64(s.UIDNext) < next {
		return fmt.Errorf("hibernate: state: UIDNEXT %d not above the known UIDs", s.UIDNext)
	}
	for i := 1; i < len(s.ExtState); i++ {
		if s.ExtState[i].Kind <= s.ExtState[i-1].Kind {
			return fmt.Errorf("hibernate: state: extension state kinds not ascending at %d", i)
		}
	}
	return nil
}

// MarshalBinary encodes s (encoding.BinaryMarshaler).
func (s *State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, s.sizeHint()))
}

// sizeHint is an upper bound of the encoded size, to allocate once.
func (s *State) sizeHint() int {
	n := 1 + 3*10 + len(s.User) + len(s.Mailbox) + len(s.IdleTag) + 5*10 + len(s.UIDs)*10
	for _, e := range s.ExtState {
		n += 20 + len(e.Data)
	}
	return n
}

// AppendBinary appends the encoding of s to b (encoding.BinaryAppender),
// so a caller can encode into a reused buffer without allocating.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return b, err
	}
	var flags uint64
	if s.ReadOnly {
		flags |= flagReadOnly
	}
	if s.TLS {
		flags |= flagTLS
	}
	version := byte(StateVersion)
	if needsV2(s.ExtState) {
		version = StateVersion2
	}
	b = append(b, version)
	b = appendUvarint(b, flags)
	b = appendUvarint(b, uint64(s.Enabled))
	b = appendString(b, s.User)
	b = appendString(b, s.Mailbox)
	b = appendString(b, s.IdleTag)
	b = appendUvarint(b, uint64(s.UIDValidity))
	b = appendUvarint(b, s.HighestModSeq)
	b = appendUvarint(b, uint64(len(s.UIDs)))
	var next uint32 = 1
	for _, r := range s.UIDs {
		b = appendUvarint(b, uint64(r.First-next))
		b = appendUvarint(b, uint64(r.Last-r.First))
		next = r.Last + 1
	}
	if s.Mailbox == "" {
		next = s.UIDNext // 0: no mailbox, no UIDNEXT
	}
	b = appendUvarint(b, uint64(s.UIDNext-next))
	b = appendUvarint(b, uint64(len(s.ExtState)))
	var kind uint32
	for i, e := range s.ExtState {
		if i == 0 {
			b = appendUvarint(b, uint64(e.Kind))
		} else {
			b = appendUvarint(b, uint64(e.Kind-kind-1))
		}
		kind = e.Kind
		b = appendUvarint(b, uint64(len(e.Data)))
		b = append(b, e.Data...)
	}
	return b, nil
}

// HighestModSeqOf returns the HIGHESTMODSEQ of an encoded State, reading
// only the fields before it, without allocating: a caller holding many
// sleepers' blobs tells cheaply which already know a change.
func HighestModSeqOf(data []byte) (uint64, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("version: %w", ErrTruncated)
	}
	if !knownVersion(data[0]) {
		return 0, fmt.Errorf("%w %d", ErrVersion, data[0])
	}
	d := afterHeader(data)
	d.skip("user")
	d.skip("mailbox")
	d.skip("idle tag")
	d.uvarint("uidvalidity")
	v := d.uvarint("modseq")
	return v, d.err
}

// afterHeader returns a decoder of an encoded State (version byte
// checked by the caller) at its user field, past the flags and the
// enabled extensions.
func afterHeader(data []byte) decoder {
	d := decoder{b: data[1:]}
	d.uvarint("flags")
	d.uvarint("enabled")
	return d
}

// namesAt returns where the user and mailbox fields of an encoded State
// begin and end, and the two names; ok is false for a blob of another
// version or one cut short before their end.
func namesAt(blob []byte) (from, to int, user, mailbox []byte, ok bool) {
	if len(blob) == 0 || !knownVersion(blob[0]) {
		return 0, 0, nil, nil, false
	}
	d := afterHeader(blob)
	from = len(blob) - len(d.b)
	user = d.raw("user")
	mailbox = d.raw("mailbox")
	return from, len(blob) - len(d.b), user, mailbox, d.err == nil
}

// elideNames appends blob to dst without its user and mailbox fields when
// they hold user and mailbox, and reports whether it did; otherwise it
// appends nothing. A Table keeps the names once per subscription, so a
// sleeper's entry need not hold them (restoreNames puts them back).
func elideNames(dst, blob []byte, user, mailbox []byte) ([]byte, bool) {
	from, to, u, m, ok := namesAt(blob)
	if !ok || !bytes.Equal(u, user) || !bytes.Equal(m, mailbox) {
		return dst, false
	}
	return append(append(dst, blob[:from]...), blob[to:]...), true
}

// restoreNames appends to dst the blob that elideNames shortened to
// short, with user and mailbox back in their place.
func restoreNames(dst, short []byte, user, mailbox []byte) []byte {
	d := afterHeader(short)
	at := len(short) - len(d.b)
	dst = append(dst, short[:at]...)
	dst = append(appendUvarint(dst, uint64(len(user))), user...)
	dst = append(appendUvarint(dst, uint64(len(mailbox))), mailbox...)
	return append(dst, short[at:]...)
}

// UnmarshalBinary decodes data into s (encoding.BinaryUnmarshaler). It
// rejects an unknown version, truncated input, trailing bytes, overlong
// varints and values out of range, with an error wrapping ErrVersion,
// ErrTruncated or ErrCorrupt; it never panics. s does not keep data.
func (s *State) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("version: %w", ErrTruncated)
	}
	if !knownVersion(data[0]) {
		return fmt.Errorf("%w %d", ErrVersion, data[0])
	}
	d := decoder{b: data[1:]}
	var out State
	flags := d.uvarint("flags")
	if flags&^flagsKnown != 0 && d.err == nil {
		d.fail("flags", ErrCorrupt)
	}
	out.ReadOnly = flags&flagReadOnly != 0
	out.TLS = flags&flagTLS != 0
	out.Enabled = Extension(d.uint32("enabled"))
	out.User = d.string("user")
	out.Mailbox = d.string("mailbox")
	out.IdleTag = d.string("idle tag")
	out.UIDValidity = d.uint32("uidvalidity")
	if out.UIDValidity == 0 && out.Mailbox != "" && d.err == nil {
		d.fail("uidvalidity", ErrCorrupt)
	}
	out.HighestModSeq = d.uvarint("modseq")
	// Each range takes at least two bytes, which bounds the count
	// before anything is allocated from it.
	n := d.count("ranges", 2)
	if n > 0 {
		out.UIDs = make([]UIDRange, 0, n)
	}
	var next uint64 = 1
	var messages uint64
	for i := 0; i < n && d.err == nil; i++ {
		gap := d.uvarint("range gap")
		span := d.uvarint("range span")
		if d.err != nil {
			break
		}
		// Bounding the deltas first keeps the sums below from
		// wrapping around 1<<64.
		first, last := next+gap, next+gap+span
		if gap > 1<<32 || span > 1<<32 || last > 1<<32-1 {
			d.fail("range", ErrCorrupt)
			break
		}
		out.UIDs = append(out.UIDs, UIDRange{uint32(first), uint32(last)})
		messages += last - first + 1
		next = last + 1
	}
	if messages > 1<<32-1 {
		d.fail("ranges", ErrCorrupt)
	}
	out.Messages = uint32(messages)
	delta := d.uvarint("uidnext")
	if out.Mailbox == "" {
		// No mailbox: nothing but the zero fields may follow.
		if (out.ReadOnly || out.UIDValidity != 0 || out.HighestModSeq != 0 || messages != 0 || delta != 0) && d.err == nil {
			d.fail("no mailbox", ErrCorrupt)
		}
		next = 0
	}
	uidnext := next + delta
	if (delta > 1<<32 || uidnext > 1<<32-1) && d.err == nil {
		d.fail("uidnext", ErrCorrupt)
	}
	out.UIDNext = uint32(uidnext)
	n = d.count("extension state", 2)
	if n > 0 {
		out.ExtState = make([]ExtState, 0, n)
	}
	var kind uint64
	for i := 0; i < n && d.err == nil; i++ {
		k := d.uvarint("extension kind")
		if i > 0 {
			k += kind + 1
			if k <= kind { // wrapped
				d.fail("extension kind", ErrCorrupt)
			}
		}
		if k > 1<<32-1 && d.err == nil {
			d.fail("extension kind", ErrCorrupt)
		}
		kind = k
		data := d.bytes("extension data")
		out.ExtState = append(out.ExtState, ExtState{Kind: uint32(k), Data: data})
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("end", ErrCorrupt)
	}
	if d.err == nil && needsV2(out.ExtState) != (data[0] == StateVersion2) {
		// One State, one encoding: the version says whether it holds
		// state a version-1 reader would ignore.
		d.fail("version", ErrCorrupt)
	}
	if d.err != nil {
		return d.err
	}
	*s = out
	return nil
}

// appendUvarint is binary.AppendUvarint, inlined by the compiler.
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the encoded form; the first error sticks, and later
// reads return zero values, so UnmarshalBinary checks once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("hibernate: state %s: %w", field, err)
	}
}

// uvarint reads a minimal uvarint: an overlong one (a trailing 0x00
// group) would give a second encoding of the same State.
func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(d.b); i++ {
		c := d.b[i]
		if i == 9 && c > 1 { // the tenth byte holds only bit 63
			d.fail(field, ErrCorrupt)
			return 0
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				d.fail(field, ErrCorrupt)
				return 0
			}
			d.b = d.b[i+1:]
			return v
		}
	}
	d.fail(field, ErrTruncated)
	return 0
}

func (d *decoder) uint32(field string) uint32 {
	v := d.uvarint(field)
	if v > 1<<32-1 {
		d.fail(field, ErrCorrupt)
		return 0
	}
	return uint32(v)
}

// count reads an element count and checks that the rest of the input can
// hold that many elements of at least minSize bytes each.
func (d *decoder) count(field string, minSize int) int {
	v := d.uvarint(field)
	if d.err != nil {
		return 0
	}
	if v > uint64(len(d.b)/minSize) {
		d.fail(field, ErrTruncated)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(field string) []byte {
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(field, ErrTruncated)
		return nil
	}
	if n == 0 {
		return nil // one State, one encoding: nil and empty are the same
	}
	p := make([]byte, n)
	copy(p, d.b)
	d.b = d.b[n:]
	return p
}

// skip reads past a length-prefixed field.
func (d *decoder) skip(field string) { d.raw(field) }

// raw reads a length-prefixed field in place, without copying it.
func (d *decoder) raw(field string) []byte {
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail(field, ErrTruncated)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(field string) string {
	n := d.uvarint(field)
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(field, ErrTruncated)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
