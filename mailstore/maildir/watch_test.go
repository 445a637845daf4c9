package maildir

import (
	"runtime"
	"testing"
	"unsafe"
)

// watchesPerBox is how many folders of a held mailbox are watched: new/,
// cur/ and, where creations alone can be watched (inotify), tmp/.
var watchesPerBox = map[bool]int{true: 3, false: 2}[runtime.GOOS == "linux"]

// watchTable checks that the watcher's tables agree with each other: each
// descriptor names a slot in use whose boxWatch has that descriptor, and
// each slot in use is named by its boxWatch's descriptors. It returns the
// number of watches.
func watchTable(t testing.TB, w *diskWatcher) int {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for wd, ref := range w.wds {
		slot, i := ref>>2, ref&3
		if int(slot) >= len(w.slots) || w.slots[slot] == nil {
			t.Fatalf("wd %d names free slot %d", wd, slot)
		}
		if b := w.slots[slot]; b.wds[i] != wd {
			t.Fatalf("wd %d names %v folder %d, whose wd is %d", wd, b.key, i, b.wds[i])
		}
	}
	used := 0
	for slot, b := range w.slots {
		if b == nil {
			continue
		}
		used++
		if b.slot != uint32(slot) || !b.hasWatch() {
			t.Fatalf("slot %d holds %v with slot %d and wds %v", slot, b.key, b.slot, b.wds)
		}
		for i, wd := range b.wds {
			if ref, ok := w.wds[wd]; wd != 0 && (!ok || ref != uint32(slot)<<2|uint32(i)) {
				t.Fatalf("%v folder %d has wd %d, which names %d", b.key, i, wd, ref)
			}
		}
	}
	if used+len(w.free) != len(w.slots) {
		t.Fatalf("%d slots in use and %d free of %d", used, len(w.free), len(w.slots))
	}
	return len(w.wds)
}

// TestBoxWatchSize: every sleeping user's watched INBOX keeps a boxWatch,
// so it must stay in the 64-byte size class.
func TestBoxWatchSize(t *testing.T) {
	if n := unsafe.Sizeof(boxWatch{}); n > 64 {
		t.Fatalf("boxWatch is %d bytes, want at most 64", n)
	}
}
