package maildir

// Taking over a Maildir that Dovecot served: the files Dovecot keeps beside
// the mail, read so that clients' caches stay valid.
//
//	dovecot-uidlist        per folder: UIDVALIDITY, next UID, UID of each file
//	dovecot-keywords       per folder: which keyword each letter a-z of a
//	                       file name's info stands for
//	dovecot.index.log      per folder: Dovecot's transaction log, whose
//	                       header and records give the HIGHESTMODSEQ it reached
//	subscriptions          in the Maildir root: subscribed mailboxes
//	dovecot-uidvalidity*   in the Maildir root: the last UIDVALIDITY given out
//	.Entw&APw-rfe          folder names in modified UTF-7, renamed to UTF-8
//
// They are read once, when a mailbox gets its index state (createMbox) and
// when a user is first opened. Dormouse never removes them. In a mailbox
// it took over it keeps the uidlist and keywords current: a line for each
// UID it gives out, as Dovecot itself adds them, and file names whose
// letters stand for the message's keywords, so that Dovecot started on the
// Maildir again finds every message under the UID clients know, with its
// flags and keywords. Dovecot's index files (dovecot.index*,
// dovecot.list.index*) are never written. A folder taken over gets one file
// of Dormouse's, dormouse-dovecot-takeover (takeOverDovecot).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/imapwire"
)

// Names of Dovecot's files in a Maildir folder.
const (
	dovecotUIDListFile  = "dovecot-uidlist"
	dovecotKeywordsFile = "dovecot-keywords"
	dovecotLogFile      = "dovecot.index.log"
	dovecotSubsFile     = "subscriptions"
	dovecotUIDValidity  = "dovecot-uidvalidity"
	// takeoverMarkFile, in a folder Dormouse took over, holds the
	// HIGHESTMODSEQ Dovecot had reached then.
	takeoverMarkFile = "dormouse-dovecot-takeover"
)

// keyDovecotUIDList marks, in a mailbox's bucket, a mailbox taken over
// from Dovecot, whose dovecot-uidlist gets a line for each UID Dormouse
// gives out; its value is the uidlist's version.
var keyDovecotUIDList = []byte("dovecot-uidlist")

// keyDovecotUser marks, in the meta bucket, a user whose Dovecot
// subscriptions were taken over.
var keyDovecotUser = []byte("dovecot-takeover")

// maxDovecotFile bounds what is read of one of Dovecot's files (a uidlist
// of a million messages is about 60 MB): a larger one is not taken over.
const maxDovecotFile = 256 << 20

// dovecotUIDList is what a dovecot-uidlist says.
type dovecotUIDList struct {
	version     int
	uidValidity uint32
	nextUID     uint32
	entries     []dovecotUID // ascending by UID, unique
}

// dovecotUID is one line of a uidlist: a UID and the base name of its file
// (the part before ":2,").
type dovecotUID struct {
	uid  uint32
	base string
}

// parseDovecotUIDList reads a dovecot-uidlist in any of its forms:
//
//	v1:  "1 <uidvalidity> <nextuid>" then "<uid> <filename>" lines
//	v2:  "2 <uidvalidity> <nextuid>" then "<uid> <filename>" lines
//	v3:  "3 V<uidvalidity> N<nextuid> G<guid> ..." then
//	     "<uid> [<key><value> ...] :<filename>" lines
//
// Lines with a UID not above the previous one are skipped, as Dovecot
// does; a broken header is an error.
func parseDovecotUIDList(r io.Reader) (dovecotUIDList, error) {
	var ul dovecotUIDList
	sc := bufio.NewScanner(io.LimitReader(r, maxDovecotFile))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return ul, fmt.Errorf("read header: %w", err)
		}
		return ul, errors.New("empty file")
	}
	header := strings.Fields(sc.Text())
	if len(header) == 0 {
		return ul, errors.New("empty header")
	}
	v, err := strconv.Atoi(header[0])
	if err != nil {
		return ul, fmt.Errorf("header %q: bad version", sc.Text())
	}
	ul.version = v
	switch v {
	case 1, 2:
		if len(header) < 3 {
			return ul, fmt.Errorf("header %q: want version, uidvalidity and next uid", sc.Text())
		}
		uv, err1 := strconv.ParseUint(header[1], 10, 32)
		next, err2 := strconv.ParseUint(header[2], 10, 32)
		if err1 != nil || err2 != nil {
			return ul, fmt.Errorf("header %q: bad number", sc.Text())
		}
		ul.uidValidity, ul.nextUID = uint32(uv), uint32(next)
	case 3:
		for _, f := range header[1:] {
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case 'V', 'N':
				n, err := strconv.ParseUint(f[1:], 10, 32)
				if err != nil {
					return ul, fmt.Errorf("header %q: bad %c", sc.Text(), f[0])
				}
				if f[0] == 'V' {
					ul.uidValidity = uint32(n)
				} else {
					ul.nextUID = uint32(n)
				}
			}
		}
	default:
		return ul, fmt.Errorf("unknown version %d", v)
	}
	if ul.uidValidity == 0 {
		return ul, errors.New("no uidvalidity in header")
	}
	last := uint32(0)
	for sc.Scan() {
		line := sc.Text()
		sp := strings.IndexByte(line, ' ')
		if sp <= 0 {
			continue
		}
		uid, err := strconv.ParseUint(line[:sp], 10, 32)
		if err != nil || uid == 0 || uint32(uid) <= last {
			continue
		}
		rest := line[sp+1:]
		var name string
		if v == 3 {
			// Extension fields, then ":" and the file name.
			if strings.HasPrefix(rest, ":") {
				name = rest[1:]
			} else if i := strings.Index(rest, " :"); i >= 0 {
				name = rest[i+2:]
			}
		} else {
			name = strings.TrimSpace(rest)
		}
		if name == "" || strings.ContainsAny(name, "/\x00") {
			continue
		}
		base, _ := splitInfo(name)
		last = uint32(uid)
		ul.entries = append(ul.entries, dovecotUID{uid: last, base: base})
	}
	if err := sc.Err(); err != nil {
		return ul, fmt.Errorf("read: %w", err)
	}
	return ul, nil
}

// dovecotKeywords maps the letters a-z of a file name's info to keywords.
type dovecotKeywords [26]string

// parseDovecotKeywords reads a dovecot-keywords file: "<index> <keyword>"
// lines, index 0 being the letter a. Lines it cannot use are skipped.
func parseDovecotKeywords(r io.Reader) (dovecotKeywords, error) {
	var kw dovecotKeywords
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		idx, name, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(idx)
		name = strings.TrimSpace(name)
		if !ok || err != nil || n < 0 || n >= len(kw) || !validKeyword(name) {
			continue
		}
		kw[n] = name
	}
	return kw, sc.Err()
}

// validKeyword reports whether s is an IMAP atom usable as a keyword.
func validKeyword(s string) bool {
	if s == "" || s[0] == '\\' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// keywordsFromInfo returns the keywords the lowercase letters of a file
// name's info stand for; a letter the file does not define is skipped,
// as Dovecot does.
func (kw *dovecotKeywords) keywordsFromInfo(info string) []string {
	var out []string
	for i := 0; i < len(info); i++ {
		if c := info[i]; c >= 'a' && c <= 'z' && kw[c-'a'] != "" {
			out = append(out, kw[c-'a'])
		}
	}
	return uniqueSorted(out)
}

// parseDovecotSubscriptions reads a Dovecot subscriptions file and returns
// the names with "/" as the hierarchy separator. Version 2 files start
// with "V\t2" and a blank line and separate levels with a tab; older files
// hold one name a line with Maildir++'s "." between levels.
func parseDovecotSubscriptions(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 16<<20))
	sep := "."
	var out []string
	first := true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			first = false
			if v, ok := strings.CutPrefix(line, "V\t"); ok {
				if v != "2" {
					return nil, fmt.Errorf("unknown subscriptions version %q", v)
				}
				sep = "\t"
				continue
			}
		}
		if line == "" {
			continue
		}
		name, ok := dovecotName(strings.Split(line, sep))
		if !ok {
			continue
		}
		out = append(out, name)
	}
	return out, sc.Err()
}

// dovecotName turns the levels of a name as Dovecot keeps it, in
// modified UTF-7 (its default for Maildir folder names and
// subscriptions), into a canonical mailbox name. A level that is not
// valid modified UTF-7 (Dovecot set to keep UTF-8) is taken as it is.
func dovecotName(levels []string) (string, bool) {
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = l
		if d, err := imapwire.DecodeMUTF7(l); err == nil {
			out[i] = d
		}
	}
	name, err := canonicalName(strings.Join(out, "/"))
	return name, err == nil
}

// renameDovecotFolders gives the folders Dovecot named in modified UTF-7
// (".Entw&APw-rfe") the UTF-8 names Dormouse uses (".Entwürfe"), so that
// clients see the names they knew; their index state, if any, goes with
// the old name.
func (u *userState) renameDovecotFolders(tx *bolt.Tx) error {
	ents, err := os.ReadDir(u.maildir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		old := e.Name()
		if !e.IsDir() || len(old) < 2 || old[0] != '.' || !strings.Contains(old, "&") {
			continue
		}
		name, ok := dovecotName(strings.Split(old[1:], "."))
		if !ok || dirName(name) == old || !isMaildir(filepath.Join(u.maildir, old)) {
			continue
		}
		to := filepath.Join(u.maildir, dirName(name))
		if exists(to) {
			u.s.log.Warn("Dovecot takeover: folder not renamed to UTF-8, the name is taken",
				"user", u.name, "folder", old, "mailbox", name)
			continue
		}
		if err := os.Rename(filepath.Join(u.maildir, old), to); err != nil {
			return fmt.Errorf("rename %s: %w", old, err)
		}
		if oldName, ok := nameFromDir(old); ok {
			if err := dropMbox(tx, oldName); err != nil {
				return err
			}
		}
		u.s.log.Info("Dovecot takeover: folder renamed from modified UTF-7", "user", u.name, "from", old, "mailbox", name)
	}
	return nil
}

// dovecotLastUIDValidity returns the last UIDVALIDITY Dovecot gave out for
// the user: the hexadecimal number in dovecot-uidvalidity and in the names
// of the dovecot-uidvalidity.<hex> files beside it (0 if none).
func dovecotLastUIDValidity(maildir string) uint32 {
	var last uint32
	note := func(hex string) {
		if v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 32); err == nil && uint32(v) > last {
			last = uint32(v)
		}
	}
	if b, err := os.ReadFile(filepath.Join(maildir, dovecotUIDValidity)); err == nil && len(b) < 64 {
		note(string(b))
	}
	if ents, err := os.ReadDir(maildir); err == nil {
		for _, e := range ents {
			if hex, ok := strings.CutPrefix(e.Name(), dovecotUIDValidity+"."); ok {
				note(hex)
			}
		}
	}
	return last
}

// Dovecot transaction log record types (lib-index/mail-transaction-log.h).
const (
	dcExpunge       = 0x00000001
	dcAppend        = 0x00000002
	dcFlagUpdate    = 0x00000004
	dcExtIntro      = 0x00000040
	dcKeywordUpdate = 0x00000400
	dcKeywordReset  = 0x00000800
	dcExpungeGUID   = 0x00002000
	dcModSeqUpdate  = 0x00008000
	dcAttrUpdate    = 0x00100000
	dcTypeMask      = 0x0fffffff
	dcExpungeProt   = 0x0000cd90
	dcExternal      = 0x10000000
	// dcFlagsMask holds the flags whose change moves a MODSEQ
	// (\Answered \Flagged \Deleted \Seen \Draft); others are Dovecot's
	// own bookkeeping.
	dcFlagsMask = 0x1f
)

// dovecotLogModSeq returns the HIGHESTMODSEQ a Dovecot transaction log
// (dovecot.index.log) reached: the log's initial MODSEQ, plus one for each
// record that Dovecot counts as a change (mail_transaction_update_modseq),
// or the MODSEQ a record sets. exact is false when the log could not be
// read to its end; the value is then a bound from above: each record left
// (8 bytes at least) counted as a change.
func dovecotLogModSeq(b []byte) (modseq uint64, exact bool, err error) {
	if len(b) < 24 {
		return 0, false, errors.New("log header too short")
	}
	major, minor := b[0], b[1]
	hdrSize := int(binary.LittleEndian.Uint16(b[2:4]))
	if major != 1 || hdrSize < 24 || hdrSize > len(b) {
		return 0, false, fmt.Errorf("log version %d.%d, header size %d: not understood", major, minor, hdrSize)
	}
	cur := uint64(0)
	if hdrSize >= 32 {
		cur = binary.LittleEndian.Uint64(b[24:32])
	}
	// Log version 1.3 and later hide changes of internal flags.
	hideInternal := minor >= 3
	off := hdrSize
	for off+8 <= len(b) {
		size := dovecotOffsetToUint32(b[off : off+4])
		if size == 0 {
			break // a record being written
		}
		if size < 8 || off+int(size) > len(b) {
			return cur + uint64(len(b)-off)/8, false, nil
		}
		typ := binary.LittleEndian.Uint32(b[off+4 : off+8])
		cur = dovecotUpdateModSeq(cur, typ, b[off+8:off+int(size)], hideInternal)
		off += int(size)
	}
	return cur, true, nil
}

// dovecotOffsetToUint32 decodes Dovecot's 4-byte size field: 7 bits a
// byte, most significant first, each byte with its top bit set.
func dovecotOffsetToUint32(b []byte) uint32 {
	if b[0]&b[1]&b[2]&b[3]&0x80 == 0 {
		return 0
	}
	return uint32(b[3]&0x7f)<<2 | uint32(b[2]&0x7f)<<9 | uint32(b[1]&0x7f)<<16 | uint32(b[0]&0x7f)<<23
}

// dovecotUpdateModSeq applies one log record to the running MODSEQ.
func dovecotUpdateModSeq(cur uint64, typ uint32, data []byte, hideInternal bool) uint64 {
	if cur == 0 {
		// MODSEQs are counted from the record that introduces the
		// "modseq" extension on.
		if typ&dcTypeMask == dcExtIntro && len(data) >= 20 {
			n := int(binary.LittleEndian.Uint16(data[18:20]))
			if len(data) >= 20+n && string(data[20:20+n]) == "modseq" {
				return 1
			}
		}
		return 0
	}
	switch typ & dcTypeMask {
	case dcExpunge | dcExpungeProt, dcExpungeGUID | dcExpungeProt:
		if typ&dcExternal != 0 { // not a mere request
			cur++
		}
	case dcAppend, dcKeywordUpdate, dcKeywordReset, dcAttrUpdate:
		cur++
	case dcFlagUpdate:
		// {uid1, uid2 uint32; add, remove, modseq_inc_flag, pad uint8}
		changes := !hideInternal
		for r := data; len(r) >= 12 && !changes; r = r[12:] {
			changes = (r[8]|r[9])&dcFlagsMask != 0 || r[10] != 0
		}
		if changes {
			cur++
		}
	case dcModSeqUpdate:
		// {uid, modseq low 32, modseq high 32}
		for r := data; len(r) >= 12; r = r[12:] {
			ms := uint64(binary.LittleEndian.Uint32(r[8:12]))<<32 | uint64(binary.LittleEndian.Uint32(r[4:8]))
			cur = max(cur, ms)
		}
	}
	return cur
}

// maxDovecotChangesPerSecond bounds how fast Dovecot's MODSEQ can have
// grown since a mailbox's UIDVALIDITY, for a folder whose transaction log
// is not there to read: each change is a transaction written to the log,
// and a million a second sustained over a mailbox's life is beyond any
// server. Twenty years at that rate stay below 2^53, which even clients
// that hold MODSEQs as floating-point numbers keep exactly.
const maxDovecotChangesPerSecond = 1_000_000

// dovecotHighestModSeq returns the HIGHESTMODSEQ Dovecot reached for the
// mailbox in folder dir, or a bound from above. Without a transaction log
// in the folder (indexes kept elsewhere, INDEX=, or in memory) the bound
// comes from the mailbox's age: Dovecot gives a new mailbox the time as
// its UIDVALIDITY, and its MODSEQ cannot have grown faster than
// maxDovecotChangesPerSecond since.
func (u *userState) dovecotHighestModSeq(dir string, uidValidity uint32) uint64 {
	b, err := readBounded(filepath.Join(dir, dovecotLogFile))
	if err != nil {
		age := time.Now().Unix() - int64(uidValidity)
		if age < 86400 {
			age = 86400 // a UIDVALIDITY that is not a time: a day at least
		}
		bound := uint64(age) * maxDovecotChangesPerSecond
		u.s.log.Warn("Dovecot takeover: no transaction log in the folder; MODSEQs start above what Dovecot could have reached",
			"user", u.name, "folder", dir, "highestmodseq", bound, "err", err)
		return bound
	}
	ms, exact, err := dovecotLogModSeq(b)
	if err != nil {
		// A bound from above all the same: no log record is shorter than
		// 8 bytes, and each moves the MODSEQ by one at most.
		u.s.log.Warn("Dovecot takeover: transaction log not understood; MODSEQs start above its size",
			"user", u.name, "folder", dir, "err", err)
		return uint64(len(b))/8 + 1
	}
	if !exact {
		u.s.log.Warn("Dovecot takeover: transaction log cut short; MODSEQs start above what it could hold",
			"user", u.name, "folder", dir)
	}
	return ms
}

// readBounded reads a file of at most maxDovecotFile bytes.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDovecotFile+1))
	if err == nil && len(b) > maxDovecotFile {
		err = fmt.Errorf("%s: larger than %d bytes", path, maxDovecotFile)
	}
	return b, err
}

// takeOverDovecot gives a mailbox whose index state was just made the
// state Dovecot left in its folder: the UIDVALIDITY, UIDNEXT and every
// file's UID from dovecot-uidlist, keywords from the file names' letters
// through dovecot-keywords, and a HIGHESTMODSEQ no lower than any Dovecot
// reported (dovecot.index.log). Every message taken over gets that MODSEQ
// and the expunge log starts there, so a QRESYNC client that synced with
// Dovecot last hears of no change, and one that synced earlier is told of
// every message's flags and, as possibly expunged, of every UID missing
// (imapserver's changesSince). Files the uidlist does not name are left to
// the rescan that follows, which gives them UIDs from UIDNEXT on. It
// reports whether there was a uidlist to take over; one that cannot be
// read is logged and the mailbox starts afresh.
func (m *mboxTx) takeOverDovecot() (bool, error) {
	u := m.u
	f, err := os.Open(filepath.Join(m.dir, dovecotUIDListFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			u.s.log.Warn("Dovecot takeover: uidlist unreadable; mailbox gets new UIDs",
				"user", u.name, "mailbox", m.meta.name, "err", err)
		}
		return false, nil
	}
	ul, err := parseDovecotUIDList(f)
	f.Close()
	if err != nil {
		u.s.log.Warn("Dovecot takeover: uidlist not understood; mailbox gets new UIDs",
			"user", u.name, "mailbox", m.meta.name, "err", err)
		return false, nil
	}
	var kw dovecotKeywords
	if kf, err := os.Open(filepath.Join(m.dir, dovecotKeywordsFile)); err == nil {
		kw, err = parseDovecotKeywords(kf)
		kf.Close()
		if err != nil {
			return false, fmt.Errorf("dovecot keywords of %s: %w", m.meta.name, err)
		}
	}
	modseq := max(u.dovecotHighestModSeq(m.dir, ul.uidValidity), 1)
	// An index lost after a takeover must not take over again: Dormouse
	// has given out MODSEQs above Dovecot's since, and clients hold them.
	// The mark left at the takeover says so, unless Dovecot has served
	// the folder since and moved its MODSEQ on.
	mark := filepath.Join(m.dir, takeoverMarkFile)
	if b, err := os.ReadFile(mark); err == nil && strings.TrimSpace(string(b)) == strconv.FormatUint(modseq, 10) {
		u.s.log.Warn("Dovecot takeover: Dormouse served this mailbox since and its index state was lost; it gets a new UIDVALIDITY",
			"user", u.name, "mailbox", m.meta.name)
		return false, nil
	}

	// The files on disk, by base name; cur/ wins over new/.
	type found struct{ sub, name string }
	onDisk := map[string]found{}
	for _, sub := range []string{"new", "cur"} {
		names, err := listNames(filepath.Join(m.dir, sub))
		if err != nil {
			return false, fmt.Errorf("dovecot takeover of %s: %w", m.meta.name, err)
		}
		for _, n := range names {
			b, _ := splitInfo(n)
			onDisk[b] = found{sub, n}
		}
	}
	curDir := filepath.Join(m.dir, "cur")
	taken, highest := 0, uint32(0)
	now := time.Now().UnixNano()
	for _, e := range ul.entries {
		// Every UID listed was given out, even one whose file is gone.
		highest = max(highest, e.uid)
		fd, ok := onDisk[e.base]
		if !ok {
			continue // expunged since the uidlist was written
		}
		delete(onDisk, e.base)
		path := filepath.Join(m.dir, fd.sub, fd.name)
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		size, err := u.s.crlfSize(path, e.base, fi.Size())
		if err != nil {
			continue // the rescan retries it
		}
		_, info := splitInfo(fd.name)
		sys := sysFromInfo(info)
		target := fileName(e.base, info, sys)
		if fd.sub == "new" || target != fd.name {
			if err := os.Rename(path, filepath.Join(curDir, target)); err != nil {
				return false, fmt.Errorf("dovecot takeover of %s: move %s: %w", m.meta.name, fd.name, err)
			}
		}
		r := msgRec{
			uid:      e.uid,
			modSeq:   modseq,
			internal: fi.ModTime().UnixNano(), // Dovecot's INTERNALDATE for Maildir
			save:     now,
			size:     size,
			flags:    flagSet{sys: sys, keywords: kw.keywordsFromInfo(info)},
			file:     target,
		}
		if err := m.put(&r); err != nil {
			return false, err
		}
		taken++
	}
	if err := m.b.Put(keyDovecotUIDList, []byte{byte(ul.version)}); err != nil {
		return false, err
	}
	// Before the commit: a failed commit then costs a new UIDVALIDITY at
	// the next try, never a MODSEQ that goes back.
	if err := writeFileAtomic(mark, []byte(strconv.FormatUint(modseq, 10)+"\n"), !u.s.opts.NoSync); err != nil {
		return false, fmt.Errorf("dovecot takeover of %s: %w", m.meta.name, err)
	}
	m.meta.uidValidity = ul.uidValidity
	m.meta.uidNext = max(ul.nextUID, highest+1, 1)
	m.meta.firstRecent = m.meta.uidNext
	m.meta.highestModSeq = modseq
	m.meta.expungeFloor = modseq
	if err := u.noteUIDValidity(m.tx, max(ul.uidValidity, dovecotLastUIDValidity(u.maildir))); err != nil {
		return false, err
	}
	u.s.log.Info("Dovecot takeover: mailbox keeps its UIDs",
		"user", u.name, "mailbox", m.meta.name, "uidvalidity", ul.uidValidity, "uidnext", m.meta.uidNext,
		"messages", taken, "highestmodseq", modseq, "uidlist_version", ul.version, "left_for_rescan", len(onDisk))
	return true, nil
}

// noteUIDValidity makes sure nextUIDValidity never hands out v or less
// again: Dovecot gave v out, and clients may hold it for a mailbox that is
// gone.
func (u *userState) noteUIDValidity(tx *bolt.Tx, v uint32) error {
	if u.lastUIDValidity(tx) >= v {
		return nil
	}
	return u.recordUIDValidity(tx, v)
}

// takeOverDovecotUser takes over what Dovecot kept for the whole user,
// once: folder names in modified UTF-7, its subscriptions (added to any
// already there) and the last UIDVALIDITY it gave out. A Maildir without
// Dovecot's files costs a read transaction and a stat or two each time the
// index opens, and writes nothing.
func (u *userState) takeOverDovecotUser() error {
	if u.dovecotChecked.Load() {
		return nil
	}
	done := false
	if err := u.view(func(tx *bolt.Tx) error {
		done = tx.Bucket(bktMeta).Get(keyDovecotUser) != nil
		return nil
	}); err != nil {
		return err
	}
	subsPath := filepath.Join(u.maildir, dovecotSubsFile)
	if !done && !exists(subsPath) && !exists(filepath.Join(u.maildir, dovecotUIDValidity)) {
		done = true // not Dovecot's
	}
	if done {
		u.dovecotChecked.Store(true)
		return nil
	}
	var subs []string
	if f, err := os.Open(subsPath); err == nil {
		subs, err = parseDovecotSubscriptions(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("dovecot subscriptions: %w", err)
		}
	}
	err := u.update(func(tx *bolt.Tx) error {
		if err := u.renameDovecotFolders(tx); err != nil {
			return err
		}
		b := tx.Bucket(bktSubs)
		for _, n := range subs {
			if err := b.Put([]byte(n), nil); err != nil {
				return err
			}
		}
		if err := u.noteUIDValidity(tx, dovecotLastUIDValidity(u.maildir)); err != nil {
			return err
		}
		return tx.Bucket(bktMeta).Put(keyDovecotUser, []byte(time.Now().UTC().Format(time.RFC3339)))
	})
	if err != nil {
		return fmt.Errorf("dovecot takeover of %s: %w", u.name, err)
	}
	u.dovecotChecked.Store(true)
	u.s.log.Info("Dovecot takeover: subscriptions kept", "user", u.name, "subscriptions", len(subs))
	return nil
}

// keepsDovecotFiles reports whether the mailbox was taken over from
// Dovecot: its dovecot-uidlist and its files' keyword letters are kept
// current.
func (m *mboxTx) keepsDovecotFiles() bool {
	if m.dovecotUIDList == 0 {
		m.dovecotUIDList = -1
		if v := m.b.Get(keyDovecotUIDList); len(v) == 1 && v[0] > 0 {
			m.dovecotUIDList = int8(v[0])
		}
	}
	return m.dovecotUIDList > 0
}

// dovecotInfo returns a file name's info with its keyword letters (a-z)
// standing for kws through the folder's dovecot-keywords, in a mailbox
// taken over from Dovecot, so that Dovecot would read the same keywords;
// a keyword the file does not list yet gets the next free letter there.
// Elsewhere, and for a keyword beyond the 26 letters (Dovecot keeps those
// only in its index), info is returned as it was.
func (m *mboxTx) dovecotInfo(info string, kws []string) string {
	if !m.keepsDovecotFiles() {
		return info
	}
	if m.dovecotKeywords == nil {
		m.dovecotKeywords = new(dovecotKeywords)
		if f, err := os.Open(filepath.Join(m.dir, dovecotKeywordsFile)); err == nil {
			*m.dovecotKeywords, _ = parseDovecotKeywords(f)
			f.Close()
		}
	}
	kw := m.dovecotKeywords
	var b []byte
	for i := 0; i < len(info); i++ {
		if c := info[i]; c < 'a' || c > 'z' {
			b = append(b, c)
		}
	}
	for _, k := range kws {
		free := -1
		found := false
		for i, name := range kw {
			if strings.EqualFold(name, k) {
				b = append(b, byte('a'+i))
				found = true
				break
			}
			if name == "" && free < 0 {
				free = i
			}
		}
		if found || free < 0 || !validKeyword(k) {
			continue
		}
		if err := m.addDovecotKeyword(free, k); err != nil {
			m.u.s.log.Warn("Dovecot takeover: dovecot-keywords not kept current",
				"user", m.u.name, "mailbox", m.meta.name, "err", err)
			continue
		}
		kw[free] = k
		b = append(b, byte('a'+free))
	}
	return string(b)
}

// addDovecotKeyword appends "<n> <keyword>" to the folder's
// dovecot-keywords (made if missing), at once: a letter defined by a
// transaction that then fails is merely unused.
func (m *mboxTx) addDovecotKeyword(n int, k string) error {
	f, err := os.OpenFile(filepath.Join(m.dir, dovecotKeywordsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%d %s\n", n, k)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// noteDovecotUID queues the uidlist line of a message given a UID, if the
// mailbox keeps a dovecot-uidlist current.
func (m *mboxTx) noteDovecotUID(r *msgRec) {
	if !m.keepsDovecotFiles() {
		return
	}
	if len(m.dovecotLines) == 0 {
		m.tx.OnCommit(m.flushDovecotUIDList)
	}
	base, _ := splitInfo(r.file)
	m.dovecotLines = strconv.AppendUint(m.dovecotLines, uint64(r.uid), 10)
	if m.dovecotUIDList >= 3 {
		m.dovecotLines = append(m.dovecotLines, " :"...)
	} else {
		m.dovecotLines = append(m.dovecotLines, ' ')
	}
	m.dovecotLines = append(append(m.dovecotLines, base...), '\n')
}

// flushDovecotUIDList appends the queued lines to the mailbox's
// dovecot-uidlist once the transaction has committed, so that the file
// never names a UID Dormouse could give out again. It is not fsynced
// (Dovecot does not run meanwhile, and the index, not this file, is what
// Dormouse trusts); a failure is logged, not fatal: the mail is safe, and
// only a return to Dovecot would renumber what the file misses.
func (m *mboxTx) flushDovecotUIDList() {
	if len(m.dovecotLines) == 0 {
		return
	}
	lines := m.dovecotLines
	m.dovecotLines = nil
	path := filepath.Join(m.dir, dovecotUIDListFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		return // removed by the operator: nothing to keep current
	}
	if err == nil {
		_, err = f.Write(lines)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		m.u.s.log.Warn("Dovecot takeover: dovecot-uidlist not kept current; Dovecot would renumber new messages",
			"user", m.u.name, "mailbox", m.meta.name, "err", err)
	}
}
