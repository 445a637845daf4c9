package hibernate

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Token names one hibernated connection: its entry index in the low 32
// bits and the entry's generation in the high 32, so a token kept past
// Remove (say, by a poller event in flight) never reaches the entry's
// next occupant. It is what the server registers with the Poller. A
// Token is never zero, so zero can mean none.
type Token uint64

func makeToken(idx, gen uint32) Token { return Token(uint64(gen)<<32 | uint64(idx)) }

func (t Token) index() uint32 { return uint32(t) }
func (t Token) gen() uint32   { return uint32(t >> 32) }

// inlineBlob is the size of the blob stored inside an entry, which makes
// an entry 64 bytes; a typical state blob without its names (TestStateSize)
// fits, larger ones go to the arena.
const inlineBlob = 40

// MaxBlob is the largest state blob a Table stores. A session whose state
// is larger stays active.
const MaxBlob = arenaMaxSlot

// entry is one hibernated connection. It holds no pointers, so a
// []entry of a million connections is one noscan allocation that the
// garbage collector never looks into.
type entry struct {
	fd      int32
	gen     uint32 // bumped on every Remove, see Token
	blobLen uint16
	class   uint8  // 0: blob inline; c > 0: arena class c-1
	flags   uint8  // entryUsed, entryNoNames, entryAfterKeepalive
	slot    uint32 // arena slot; the next free entry while unused
	since   int64  // hibernated since, Unix nanoseconds
	inline  [inlineBlob]byte
}

// Entry flags.
const (
	entryUsed    = 1 << iota // the entry holds a connection
	entryNoNames             // its blob lacks the names of its subscription's key (elideNames)
	// entryAfterKeepalive: a keepalive was written and the client has
	// not gone back to IDLE since (SetAfterKeepalive).
	entryAfterKeepalive
)

// Errors returned by Table methods.
var (
	ErrStaleToken = errors.New("hibernate: stale or unknown token")
	ErrBlobSize   = errors.New("hibernate: state blob too large")
	ErrFDInUse    = errors.New("hibernate: descriptor already hibernated")
)

// TableConfig configures a Table.
type TableConfig struct {
	// Capacity is the expected number of connections: the arrays are
	// allocated once at this size (they grow beyond it as needed).
	Capacity int
	// Keepalive is the interval between "* OK Still here" lines
	// (config idle-keepalive; 2 minutes when zero).
	Keepalive time.Duration
	// KeepaliveTick is the granularity of the keepalive timer (1s
	// when zero).
	KeepaliveTick time.Duration
	// Epoch is the keepalive wheel's time zero (the first Insert's
	// time when zero).
	Epoch time.Time
	// OnSubscribe, when set, is called when a connection is the first
	// to wait on (user, mailbox), so the caller starts watching it;
	// OnUnsubscribe when the last one leaves. They run inside the
	// Table method that caused them and must not call the Table.
	OnSubscribe   func(id SubID, user, mailbox string)
	OnUnsubscribe func(id SubID)
}

// Table holds the hibernated connections: per connection an entry
// (descriptor, state blob, hibernated-since), its place on its mailbox's
// subscription and on the keepalive wheel, and an index by descriptor.
// Every per-connection array is pointer-free. It is not safe for
// concurrent use; the server guards it with one mutex (or shards it).
type Table struct {
	cfg     TableConfig
	entries []entry
	free    uint32   // first unused entry, linked through entry.slot
	byFD    []uint32 // entry index + 1 by descriptor; 0 for none
	n       int
	arena   arena
	subs    *Subscriptions
	ka      *Keepalive
	scratch []uint32 // reused by AppendDueKeepalives
}

// NewTable returns an empty table.
func NewTable(cfg TableConfig) *Table {
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = 2 * time.Minute
	}
	if cfg.KeepaliveTick <= 0 {
		cfg.KeepaliveTick = time.Second
	}
	if cfg.KeepaliveTick > cfg.Keepalive {
		cfg.KeepaliveTick = cfg.Keepalive
	}
	return &Table{
		cfg:     cfg,
		entries: make([]entry, 0, cfg.Capacity),
		free:    noIndex,
		byFD:    make([]uint32, 0, cfg.Capacity),
		subs:    NewSubscriptions(cfg.Capacity),
	}
}

// Len returns the number of hibernated connections.
func (t *Table) Len() int { return t.n }

// Subscriptions returns the table's subscriptions, to look one up or to
// count its waiters. Use Table methods to change them.
func (t *Table) Subscriptions() *Subscriptions { return t.subs }

// Insert hibernates the connection on fd, waiting on (user, mailbox),
// with its state blob, at now; its first keepalive is due one interval
// later. The blob is copied.
func (t *Table) Insert(fd int, user, mailbox string, blob []byte, now time.Time) (Token, error) {
	if fd < 0 || fd > 1<<31-1 {
		return 0, fmt.Errorf("hibernate: insert fd %d: out of range", fd)
	}
	if len(blob) > MaxBlob {
		return 0, fmt.Errorf("hibernate: insert fd %d: %d bytes: %w", fd, len(blob), ErrBlobSize)
	}
	if len(user)+len(mailbox) > MaxKey {
		return 0, fmt.Errorf("hibernate: insert fd %d: %d-byte subscription key: %w", fd, len(user)+len(mailbox), ErrBlobSize)
	}
	if fd < len(t.byFD) && t.byFD[fd] != 0 {
		return 0, fmt.Errorf("hibernate: insert fd %d: %w", fd, ErrFDInUse)
	}
	if t.ka == nil {
		epoch := t.cfg.Epoch
		if epoch.IsZero() {
			epoch = now
		}
		ka, err := NewKeepalive(t.cfg.KeepaliveTick, t.cfg.Keepalive, epoch, t.cfg.Capacity)
		if err != nil {
			return 0, err
		}
		t.ka = ka
	}
	idx := t.free
	if idx != noIndex {
		t.free = t.entries[idx].slot
	} else {
		if len(t.entries) >= int(noIndex) {
			return 0, errors.New("hibernate: insert: table full")
		}
		idx = uint32(len(t.entries))
		t.entries = append(t.entries, entry{})
	}
	e := &t.entries[idx]
	if e.gen == 0 {
		e.gen = 1 // so that no Token is zero
	}
	e.fd = int32(fd)
	e.flags = entryUsed
	e.since = now.UnixNano()
	t.storeBlob(e, blob, []byte(user), []byte(mailbox))
	for fd >= len(t.byFD) {
		t.byFD = append(t.byFD, 0)
	}
	t.byFD[fd] = idx + 1
	t.n++
	// Join cannot fail: the key length was checked above.
	if id, created, _ := t.subs.Join(user, mailbox, idx); created && t.cfg.OnSubscribe != nil {
		t.cfg.OnSubscribe(id, user, mailbox)
	}
	t.ka.Schedule(idx, now.Add(t.cfg.Keepalive))
	return makeToken(idx, e.gen), nil
}

// AppendTokens appends the token of every hibernated connection to dst,
// in no particular order, and changes nothing (AppendDueKeepalives, which
// also finds them all, reschedules their keepalives).
func (t *Table) AppendTokens(dst []Token) []Token {
	for i := range t.entries {
		if e := &t.entries[i]; e.flags&entryUsed != 0 {
			dst = append(dst, makeToken(uint32(i), e.gen))
		}
	}
	return dst
}

// get returns the live entry tok names.
func (t *Table) get(tok Token) (*entry, error) {
	i := tok.index()
	if int(i) >= len(t.entries) {
		return nil, ErrStaleToken
	}
	e := &t.entries[i]
	if e.flags&entryUsed == 0 || e.gen != tok.gen() {
		return nil, ErrStaleToken
	}
	return e, nil
}

// Remove takes the connection out of the table (it woke, or it is
// closed). Its token becomes stale.
func (t *Table) Remove(tok Token) error {
	e, err := t.get(tok)
	if err != nil {
		return fmt.Errorf("hibernate: remove: %w", err)
	}
	idx := tok.index()
	if id, last := t.subs.Leave(idx); last && t.cfg.OnUnsubscribe != nil {
		t.cfg.OnUnsubscribe(id)
	}
	t.ka.Cancel(idx)
	t.byFD[e.fd] = 0
	t.freeBlob(e)
	*e = entry{gen: e.gen + 1, slot: t.free}
	t.free = idx
	t.n--
	return nil
}

// Info is what Lookup reports about a hibernated connection.
type Info struct {
	FD            int
	Sub           SubID
	Since         time.Time
	NextKeepalive time.Time
	BlobLen       int // bytes stored: without the subscription's names when the table left them out
	// AfterKeepalive says a keepalive was written to the connection and
	// its client has not gone back to IDLE since (SetAfterKeepalive).
	AfterKeepalive bool
}

// Lookup returns what the table holds about tok.
func (t *Table) Lookup(tok Token) (Info, error) {
	e, err := t.get(tok)
	if err != nil {
		return Info{}, fmt.Errorf("hibernate: lookup: %w", err)
	}
	idx := tok.index()
	ka, _ := t.ka.Due(idx)
	sub, _ := t.subs.Of(idx)
	return Info{
		FD:             int(e.fd),
		Sub:            sub,
		Since:          time.Unix(0, e.since),
		NextKeepalive:  ka,
		BlobLen:        int(e.blobLen),
		AfterKeepalive: e.flags&entryAfterKeepalive != 0,
	}, nil
}

// SetAfterKeepalive marks tok as answering a keepalive (on), or as back
// in IDLE (off): its owner sets it when it writes a keepalive and clears
// it when the client starts a new IDLE, so that a wake in between (a
// client that answers each keepalive with a command) can be counted as
// the keepalive's. The mark costs no memory: a bit of the entry.
func (t *Table) SetAfterKeepalive(tok Token, on bool) error {
	e, err := t.get(tok)
	if err != nil {
		return fmt.Errorf("hibernate: after keepalive: %w", err)
	}
	if on {
		e.flags |= entryAfterKeepalive
	} else {
		e.flags &^= entryAfterKeepalive
	}
	return nil
}

// ByFD returns the token of the connection hibernated on fd.
func (t *Table) ByFD(fd int) (Token, bool) {
	if fd < 0 || fd >= len(t.byFD) || t.byFD[fd] == 0 {
		return 0, false
	}
	idx := t.byFD[fd] - 1
	return makeToken(idx, t.entries[idx].gen), true
}

// AppendBlob appends tok's state blob to dst.
func (t *Table) AppendBlob(dst []byte, tok Token) ([]byte, error) {
	e, err := t.get(tok)
	if err != nil {
		return dst, fmt.Errorf("hibernate: blob: %w", err)
	}
	var stored []byte
	if e.class == 0 {
		stored = e.inline[:e.blobLen]
	} else {
		stored = t.arena.slot(e.class-1, e.slot)[:e.blobLen]
	}
	if e.flags&entryNoNames == 0 {
		return append(dst, stored...), nil
	}
	user, mailbox := t.names(tok.index())
	return restoreNames(dst, stored, user, mailbox), nil
}

// names returns the key of the subscription entry idx waits on.
func (t *Table) names(idx uint32) (user, mailbox []byte) {
	id, _ := t.subs.Of(idx)
	return t.subs.keyBytes(id)
}

// SetBlob replaces tok's state blob, for a wake by a mailbox change that
// replayed the change and went back to sleep with S, M and N moved on.
func (t *Table) SetBlob(tok Token, blob []byte) error {
	e, err := t.get(tok)
	if err != nil {
		return fmt.Errorf("hibernate: set blob: %w", err)
	}
	if len(blob) > MaxBlob {
		return fmt.Errorf("hibernate: set blob: %d bytes: %w", len(blob), ErrBlobSize)
	}
	t.freeBlob(e)
	user, mailbox := t.names(tok.index())
	t.storeBlob(e, blob, user, mailbox)
	return nil
}

// storeBlob stores blob in e, without the user and mailbox names when it
// holds them (inline or in the arena: the subscription keeps them once),
// copied straight into its place.
func (t *Table) storeBlob(e *entry, blob, user, mailbox []byte) {
	from, to, u, m, ok := namesAt(blob)
	if ok && bytes.Equal(u, user) && bytes.Equal(m, mailbox) {
		e.flags |= entryNoNames
	} else {
		from, to = len(blob), len(blob)
		e.flags &^= entryNoNames
	}
	n := len(blob) - (to - from)
	e.blobLen = uint16(n)
	var dst []byte
	if n <= inlineBlob {
		e.class = 0
		dst = e.inline[:]
	} else {
		c, s := t.arena.alloc(n)
		e.class, e.slot = c+1, s
		dst = t.arena.slot(c, s)
	}
	copy(dst[copy(dst, blob[:from]):], blob[to:])
}

func (t *Table) freeBlob(e *entry) {
	if e.class > 0 {
		c := e.class - 1
		t.arena.free(c, e.slot)
		e.class = 0
		if t.arena.sparse(c) {
			t.compactBlobs(c)
		}
	}
}

// compactBlobs moves the blobs of arena class c into a slab of their
// number, in entry order. The arena never shrinks otherwise, and blobs
// move between classes as they grow: a compressed sleeper keeps its
// client's recent input, which grows with every command answered
// asleep, so a fleet that went to sleep together moves up a class every
// few keepalives, and each class it passed through kept its peak (seven
// times what the blobs needed after ten classes, TestTableArenaFollowsBlobs).
// A compaction reads every entry, but comes only after three quarters
// of a class's slots were freed since the last: its cost per free is
// constant.
func (t *Table) compactBlobs(c uint8) {
	size := classSize(c)
	old := t.arena.class[c].data
	data := make([]byte, 0, t.arena.used(c)*size)
	for i := range t.entries {
		e := &t.entries[i]
		if e.flags&entryUsed == 0 || e.class != c+1 {
			continue
		}
		off := int(e.slot) * size
		e.slot = uint32(len(data) / size)
		data = append(data, old[off:off+size]...)
	}
	t.arena.class[c].data, t.arena.class[c].free = data, nil
}

// AppendWaiters appends the tokens of the connections waiting on sub to
// dst: the fan-out of one change to a mailbox. The table is not changed,
// so the caller may then remove or update any of them.
func (t *Table) AppendWaiters(dst []Token, sub SubID) []Token {
	s := t.subs
	if int(sub) >= len(s.subs) {
		return dst
	}
	for w := s.subs[sub].head; w != noIndex; w = s.links[w].next {
		dst = append(dst, makeToken(w, t.entries[w].gen))
	}
	return dst
}

// AppendDueKeepalives appends the tokens of the connections whose
// keepalive is due at now to dst, and schedules their next one an
// interval later. The caller writes "* OK Still here" to each and
// removes those whose write fails.
func (t *Table) AppendDueKeepalives(dst []Token, now time.Time) []Token {
	if t.ka == nil {
		return dst
	}
	t.scratch = t.ka.AppendDue(t.scratch[:0], now)
	for _, i := range t.scratch {
		dst = append(dst, makeToken(i, t.entries[i].gen))
		t.ka.Schedule(i, now.Add(t.cfg.Keepalive))
	}
	return dst
}
