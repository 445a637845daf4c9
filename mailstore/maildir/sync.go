package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

// changeSet collects what a transaction changed, for its events.
type changeSet struct {
	added, flagged, expunged []uint32
	// modSeq is the MODSEQ given to the changes found on disk by one sync.
	modSeq uint64
	// deferMoves makes ingest leave the moves of files from new/ to cur/
	// in moves, for finishMoves after the announcement.
	deferMoves bool
	moves      []pendingMove
	// rest holds the files of cur/ a full rescan left for another
	// transaction (rescanBatch), in name order: the next transaction
	// starts from them rather than listing and comparing the folder again
	// (which made a million files take ten listings and ten walks of a
	// growing index).
	rest []string
	// walked counts the records a full rescan read.
	walked int
	// unlogged makes ingestRest write no MODSEQ entries (modseqlog.go).
	unlogged bool
}

// rescanBatch bounds the files of cur/ one full rescan gives UIDs to in
// one transaction: bbolt holds a transaction's every changed node in
// memory until its commit (about 570 bytes per new message), so the
// first rescan of a Maildir of a million messages would hold half a
// gigabyte at once. syncMailbox commits a batch and rescans for the next.
const rescanBatch = 100_000

// pendingMove is a file of new/ that got UID uid as cur/'s to.
type pendingMove struct {
	from, to string
	uid      uint32
}

// events turns a change set into change events.
func (cs *changeSet) events(user string, m *mboxTx) []mailstore.Event {
	var evs []mailstore.Event
	mk := func(k mailstore.EventKind, uids []uint32) {
		if len(uids) > 0 {
			evs = append(evs, mailstore.Event{Kind: k, User: user, Mailbox: m.meta.name,
				UIDs: uids, UIDValidity: m.meta.uidValidity,
				HighestModSeq: m.meta.highestModSeq, UIDNext: m.meta.uidNext})
		}
	}
	mk(mailstore.MessagesExpunged, cs.expunged)
	mk(mailstore.MessagesAdded, cs.added)
	mk(mailstore.FlagsChanged, cs.flagged)
	return evs
}

// diskModSeq allocates one MODSEQ for all changes a sync finds.
func (cs *changeSet) diskModSeq(m *mboxTx) uint64 {
	if cs.modSeq == 0 {
		cs.modSeq = m.nextModSeq()
	}
	return cs.modSeq
}

// ignoredName reports names that are not mail: dotfiles (and editors'
// temporary files), which the Maildir spec reserves.
func ignoredName(name string) bool {
	return name == "" || name[0] == '.' || strings.ContainsRune(name, '/')
}

func dirMtime(dir string) (int64, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	return fi.ModTime().UnixNano(), nil
}

// fullSync compares the mailbox's new/ and cur/ with the index and records
// every difference with a new MODSEQ: files in new/ get UIDs and move to
// cur/, unknown files in cur/ get UIDs, renamed files change flags, missing
// files are expunged. It does nothing when the folders' mtimes match those
// of the last full sync: adding, removing or renaming a file stamps its
// folder, so equal mtimes mean equal folders, as Dovecot also assumes
// (the 2-second rule below covers the file system's coarse clock).
func (m *mboxTx) fullSync(cs *changeSet) error {
	newDir, curDir := filepath.Join(m.dir, "new"), filepath.Join(m.dir, "cur")
	curMt, err := dirMtime(curDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rescan %s: %w", m.meta.name, mailstore.ErrNoMailbox)
		}
		return fmt.Errorf("rescan %s: %w", m.meta.name, err)
	}
	newMt, err := dirMtime(newDir)
	if err != nil {
		return fmt.Errorf("rescan %s: %w", m.meta.name, err)
	}
	if curMt == m.meta.curMtime && newMt == m.meta.newMtime {
		return nil
	}
	bulk := m.bulkAllowed() // (before new/'s files take MODSEQs)
	newNames, err := listNames(newDir)
	if err != nil {
		return fmt.Errorf("rescan %s: %w", m.meta.name, err)
	}
	moved := false
	for _, n := range newNames {
		ok, err := m.ingest(cs, "new", n)
		if err != nil {
			return err
		}
		moved = moved || ok
	}
	curNames, err := listNames(curDir)
	if err != nil {
		return fmt.Errorf("rescan %s: %w", m.meta.name, err)
	}
	var rest []string
	if k, _ := m.msgs.Cursor().First(); k == nil {
		// Nothing indexed (a folder new to the index): every file is
		// new, in listNames' order, and there is nothing to compare.
		rest = curNames
	} else if rest, err = m.compareCur(cs, curNames); err != nil {
		return err
	}
	cs.rest = rest
	cs.unlogged = bulk && len(rest) >= unloggedMin
	if err := m.ingestRest(cs); err != nil {
		return err
	}
	// Our own renames changed the mtimes: check again next time. So do
	// mtimes too close to now: file systems stamp directories with a
	// coarse clock, and a change in the same tick would go unnoticed.
	if moved || len(rest) > 0 || time.Since(time.Unix(0, max(curMt, newMt))) < 2*time.Second {
		curMt, newMt = 0, 0
	}
	m.meta.curMtime, m.meta.newMtime = curMt, newMt
	return nil
}

// compareCur compares the files of cur/ (curNames) with the index: it
// expunges the messages whose files are gone, records renames, and
// returns the files the index does not know, sorted.
func (m *mboxTx) compareCur(cs *changeSet, curNames []string) (rest []string, err error) {
	onDisk := make(map[string]string, len(curNames))
	var dups []string // more files with a base already seen
	for _, n := range curNames {
		b, _ := splitInfo(n)
		if _, dup := onDisk[b]; !dup {
			onDisk[b] = n
		} else {
			dups = append(dups, n)
		}
	}
	// Collect first: a bbolt cursor must not walk a bucket being changed.
	type change struct {
		old  msgRec
		name string // "" to expunge
	}
	var changes []change
	c := m.msgs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeRec(beUint32(k), v, true)
		if err != nil {
			return nil, fmt.Errorf("rescan %s: message %d: %w", m.meta.name, beUint32(k), err)
		}
		cs.walked++
		base, _ := splitInfo(r.file)
		name, ok := onDisk[base]
		delete(onDisk, base)
		switch {
		case !ok:
			changes = append(changes, change{old: r})
		case name != r.file && slices.Contains(dups, r.file):
			// The indexed file is there too: the other one is the copy.
			dups = append(slices.DeleteFunc(dups, func(d string) bool { return d == r.file }), name)
		case name != r.file:
			changes = append(changes, change{old: r, name: name})
		}
	}
	for _, ch := range changes {
		if ch.name == "" {
			if err := m.remove(&ch.old, cs.diskModSeq(m)); err != nil {
				return nil, err
			}
			cs.expunged = append(cs.expunged, ch.old.uid)
			continue
		}
		if err := m.renamedOnDisk(cs, &ch.old, ch.name); err != nil {
			return nil, err
		}
	}
	rest = make([]string, 0, len(onDisk)+len(dups))
	for _, n := range onDisk {
		rest = append(rest, n)
	}
	// A duplicate base: ingest gives the file that is not the indexed one
	// a base of its own.
	rest = append(rest, dups...)
	sort.Strings(rest) // Maildir names start with the delivery time
	return rest, nil
}

// syncNames applies the file events of one mailbox: names that appeared,
// vanished or were renamed in new/ and cur/.
func (m *mboxTx) syncNames(cs *changeSet, newNames, curNames []string) error {
	sort.Strings(newNames)
	for _, n := range newNames {
		if _, err := m.ingest(cs, "new", n); err != nil {
			return err
		}
	}
	byBase := map[string][]string{}
	var bases []string
	for _, n := range curNames {
		b, _ := splitInfo(n)
		if byBase[b] == nil {
			bases = append(bases, b)
		}
		byBase[b] = append(byBase[b], n)
	}
	sort.Strings(bases)
	curDir := filepath.Join(m.dir, "cur")
	for _, b := range bases {
		cands := byBase[b]
		v := m.files.Get([]byte(b))
		if v == nil {
			for i := len(cands) - 1; i >= 0; i-- {
				if ok, err := m.ingest(cs, "cur", cands[i]); err != nil || ok {
					if err != nil {
						return err
					}
					break
				}
			}
			continue
		}
		r, ok, err := m.get(beUint32(v), true)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if exists(filepath.Join(curDir, r.file)) {
			// Nothing changed (or it was our own change), unless another
			// file with the same base appeared: a copy made by some tool.
			for _, c := range cands {
				if c != r.file {
					if _, err := m.ingest(cs, "cur", c); err != nil {
						return err
					}
				}
			}
			continue
		}
		found := ""
		for i := len(cands) - 1; i >= 0 && found == ""; i-- {
			if exists(filepath.Join(curDir, cands[i])) {
				found = cands[i]
			}
		}
		if found == "" {
			// The rename target may have come in another batch: look.
			names, err := listNames(curDir)
			if err != nil {
				return fmt.Errorf("rescan %s: %w", m.meta.name, err)
			}
			for _, n := range names {
				if nb, _ := splitInfo(n); nb == b {
					found = n
					break
				}
			}
		}
		if found == "" {
			if err := m.remove(&r, cs.diskModSeq(m)); err != nil {
				return err
			}
			cs.expunged = append(cs.expunged, r.uid)
			continue
		}
		if err := m.renamedOnDisk(cs, &r, found); err != nil {
			return err
		}
	}
	return nil
}

// namesNeedWork reports whether syncNames would change anything. Most file
// events are echoes of this process's own renames, already in the index;
// checking in a read transaction first spares a write (and its fsync).
func (m *mboxTx) namesNeedWork(newNames, curNames []string) bool {
	for _, n := range newNames {
		if !ignoredName(n) && exists(filepath.Join(m.dir, "new", n)) {
			return true
		}
	}
	curDir := filepath.Join(m.dir, "cur")
	for _, n := range curNames {
		b, _ := splitInfo(n)
		v := m.files.Get([]byte(b))
		if v == nil {
			if exists(filepath.Join(curDir, n)) {
				return true
			}
			continue
		}
		r, ok, err := m.get(beUint32(v), true)
		if err != nil || (ok && (!exists(filepath.Join(curDir, r.file)) || (n != r.file && exists(filepath.Join(curDir, n))))) {
			return true
		}
	}
	return false
}

// renamedOnDisk records a message whose file another program renamed: the
// system flags come from the new name.
func (m *mboxTx) renamedOnDisk(cs *changeSet, old *msgRec, name string) error {
	_, info := splitInfo(name)
	r := *old
	r.file = name
	r.flags.keywords = append([]string(nil), old.flags.keywords...)
	r.flags.sys = sysFromInfo(info)
	if r.flags.sys != old.flags.sys {
		r.modSeq = cs.diskModSeq(m)
		cs.flagged = append(cs.flagged, r.uid)
	}
	return m.update(old, &r)
}

// ingest gives a UID to a file found in new/ or cur/. A file from new/ is
// moved to cur/ with an info suffix, as Dovecot does. ok is false when the
// file is gone or not a regular file.
func (m *mboxTx) ingest(cs *changeSet, sub, name string) (ok bool, err error) {
	if ignoredName(name) {
		return false, nil
	}
	return m.ingestFile(cs, sub, name, statFile(filepath.Join(m.dir, sub, name)))
}

// ingestFile is ingest of a file whose Lstat is fi. It builds the
// file's path only where it needs it (a first open takes this path once
// per file of the folder).
func (m *mboxTx) ingestFile(cs *changeSet, sub, name string, fi fileFacts) (ok bool, err error) {
	if !fi.regular {
		return false, nil
	}
	path := func() string { return filepath.Join(m.dir, sub, name) }
	curPath := func(n string) string { return filepath.Join(m.dir, "cur", n) }
	base, info := splitInfo(name)
	// A base above every one the bucket holds is not there: a first
	// open's names come sorted, and most of their bases too.
	var v []byte
	if !m.filesTopKnown || base <= m.filesTop {
		m.scratch = append(m.scratch[:0], base...) // (Get keeps no key)
		v = m.files.Get(m.scratch)
	}
	if v != nil {
		r, known, err := m.get(beUint32(v), true)
		if err != nil {
			return false, err
		}
		// (A file of this batch whose move is pending is not that.)
		if known && !exists(curPath(r.file)) && sub == "new" && !cs.moving(r.uid) {
			// A move new/ -> cur/ whose rename did not survive a crash.
			return true, os.Rename(path(), curPath(r.file))
		}
		if known && sub == "cur" && r.file == name {
			return false, nil
		}
		// Another file with a base we already know (a copy made by some
		// tool): give it a base of its own.
		base = fmt.Sprintf("%s.dup%d", base, m.meta.uidNext)
	}
	size, ok := sizeFromName(base, fi.size)
	if !ok {
		if size, err = m.u.s.crlfSize(path(), base, fi.size); err != nil {
			// An unreadable file is skipped, not fatal: it is retried on
			// the next rescan.
			return false, nil
		}
	}
	sys := sysFromInfo(info)
	target := name
	if len(base) >= len(name) || !strings.HasPrefix(name, base) || withSys(info, sys) != info {
		// No info yet, a base of its own, or letters out of order.
		target = fileName(base, info, sys)
	}
	deferred := cs.deferMoves && sub == "new"
	if (sub == "new" || target != name) && !deferred {
		if err := os.Rename(path(), curPath(target)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return false, nil
			}
			return false, fmt.Errorf("rescan %s: move %s to cur: %w", m.meta.name, name, err)
		}
	}
	r := msgRec{
		internal: fi.mtime,
		save:     time.Now().UnixNano(),
		size:     size,
		flags:    flagSet{sys: sys},
		file:     target,
	}
	if err := m.insert(&r); err != nil { // allocates UID and MODSEQ
		return false, err
	}
	cs.added = append(cs.added, r.uid)
	if deferred {
		cs.moves = append(cs.moves, pendingMove{from: path(), to: curPath(target), uid: r.uid})
	}
	return true, nil
}

// moving reports whether the move of message uid's file is pending.
func (cs *changeSet) moving(uid uint32) bool {
	for _, mv := range cs.moves {
		if mv.uid == uid {
			return true
		}
	}
	return false
}

// finishMoves makes the moves into cur/ that ingest left for after the
// announcement (syncMailbox), still inside the transaction, so that the
// index commits only what is on disk. A file no longer in new/ (another
// program took it meanwhile, e.g. a mail client that moves new mail to
// cur/ itself) leaves the mailbox again: its record is expunged with a
// new MODSEQ, so a client told of it hears EXPUNGE as for any message
// deleted, and the file, wherever it went, gets a new UID from its own
// event. It reports whether it changed the set of messages. Any other
// failure fails the transaction, as a failed commit does.
func (m *mboxTx) finishMoves(cs *changeSet) (changed bool, err error) {
	moves := cs.moves
	cs.moves = nil
	for _, mv := range moves {
		err := os.Rename(mv.from, mv.to)
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return changed, fmt.Errorf("rescan %s: move %s to cur: %w", m.meta.name, filepath.Base(mv.from), err)
		}
		r, ok, err := m.get(mv.uid, true)
		if err != nil {
			return changed, err
		}
		if !ok {
			continue
		}
		if err := m.remove(&r, cs.diskModSeq(m)); err != nil {
			return changed, err
		}
		// A copy: the early event holds cs.added.
		cs.added = slices.DeleteFunc(slices.Clone(cs.added), func(u uint32) bool { return u == mv.uid })
		cs.expunged = append(cs.expunged, mv.uid)
		changed = true
	}
	return changed, nil
}

// crlfSize returns RFC822.SIZE of a file: from the name's ",S=...,W=..."
// when S matches the size on disk, otherwise by counting bare LFs, through
// one of the store's copy buffers (a delivery by rename allocated 96 KiB
// here, for a message of a few hundred bytes).
func (s *Store) crlfSize(path, base string, raw int64) (int64, error) {
	if w, ok := sizeFromName(base, raw); ok {
		return w, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	return countCRLFSize(f, *bp)
}

// countCRLFSize reads r to its end through buf and returns its length with
// every bare LF counted as CRLF.
func countCRLFSize(r io.Reader, buf []byte) (int64, error) {
	var n int64
	var prevCR bool
	for {
		k, err := r.Read(buf)
		b := buf[:k]
		n += int64(k)
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				prevCR = b[len(b)-1] == '\r'
				break
			}
			if (i == 0 && !prevCR) || (i > 0 && b[i-1] != '\r') {
				n++
			}
			prevCR = false
			b = b[i+1:]
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// sizeFromName returns RFC822.SIZE from the name's ",S=...,W=..." when S
// matches raw, the file's size on disk.
func sizeFromName(base string, raw int64) (int64, bool) {
	if sz, w, ok := sizesFromBase(base); ok && sz == raw {
		return w, true
	}
	return 0, false
}

// sizesFromBase parses Dovecot's ",S=<size>" and ",W=<vsize>" fields.
func sizesFromBase(base string) (s, w int64, ok bool) {
	var haveS, haveW bool
	_, rest, more := strings.Cut(base, ",")
	for more {
		var f string
		f, rest, more = strings.Cut(rest, ",")
		switch {
		case strings.HasPrefix(f, "S="):
			v, err := strconv.ParseInt(f[2:], 10, 64)
			s, haveS = v, err == nil
		case strings.HasPrefix(f, "W="):
			v, err := strconv.ParseInt(f[2:], 10, 64)
			w, haveW = v, err == nil
		}
	}
	return s, w, haveS && haveW
}

// listNames lists the mail file names of a folder, skipping dotfiles.
func listNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if !ignoredName(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func beUint32(b []byte) uint32 {
	if len(b) != 4 {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// rescanBatch is the store's rescanBatch (a test may set a smaller one).
func (o Options) rescanBatch() int {
	if o.rescanFiles > 0 {
		return o.rescanFiles
	}
	return rescanBatch
}
