package notify

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// TestMeasureBus reports the heap one user's INBOX subscription costs,
// as a hibernated user holds it. It runs only with
// DORMOUSE_MEASURE=1:
//
//	DORMOUSE_MEASURE=1 go test -run MeasureBus -v ./notify/
func TestMeasureBus(t *testing.T) {
	if os.Getenv("DORMOUSE_MEASURE") == "" {
		t.Skip("set DORMOUSE_MEASURE=1 to measure")
	}
	const users = 100_000
	names := make([]string, users)
	for i := range names {
		names[i] = fmt.Sprintf("user%06d", i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b := New()
	cancels := make([]func(), users)
	for i, u := range names {
		cancels[i] = b.Subscribe(u, "INBOX", func(mailstore.Event) {})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The cancel funcs are the caller's (the store keeps them), so
	// they are counted: 100,000 closures.
	per := float64(after.HeapAlloc-before.HeapAlloc) / users
	t.Logf("%d users, one INBOX subscription each: %.0f B per user (cancel func included)", users, per)
	runtime.KeepAlive(cancels)
	runtime.KeepAlive(names)
}
