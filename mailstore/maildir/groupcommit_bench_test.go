package maildir

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

// BenchmarkStoreFlagsConcurrent: sessions of one user (each its own
// mailbox handle, as each connection has) toggle \Seen on messages of
// their own at the same time, fsync on as in production. With group
// commit the sessions' changes share commits, so time per STORE falls as
// sessions are added; without it every STORE pays its own commit.
func BenchmarkStoreFlagsConcurrent(b *testing.B) {
	for _, sessions := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			s, _ := testStore(b, Options{})
			u := testUser(b, s, "bench")
			first := testMailbox(b, u, "INBOX")
			for i := 0; i < 4*sessions; i++ {
				mustAppend(b, first, msg(fmt.Sprint(i)))
			}
			mbs := make([]mailstore.Mailbox, sessions)
			for i := range mbs {
				mbs[i] = testMailbox(b, u, "INBOX")
			}
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for i, mb := range mbs {
				wg.Add(1)
				go func(uid uint32) {
					defer wg.Done()
					op := mailstore.FlagsAdd
					for left.Add(-1) >= 0 {
						if _, _, err := mb.StoreFlags(context.Background(), []uint32{uid}, op, []string{`\Seen`}, 0); err != nil {
							b.Error(err)
							return
						}
						op = mailstore.FlagsAdd + mailstore.FlagsRemove - op
					}
				}(uint32(i + 1))
			}
			wg.Wait()
		})
	}
}

// BenchmarkStoreFlagsUnchanged: a STORE of flags the message has
// (`+FLAGS (\Seen)` on a seen message), fsync on as in production. It
// changes nothing, so it commits nothing (commitFlags); before, it paid a
// commit's two fdatasyncs.
func BenchmarkStoreFlagsUnchanged(b *testing.B) {
	s, _ := testStore(b, Options{})
	mb := testMailbox(b, testUser(b, s, "bench"), "INBOX")
	uid := mustAppend(b, mb, msg("seen"), `\Seen`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := mb.StoreFlags(ctx, []uint32{uid}, mailstore.FlagsAdd, []string{`\Seen`}, 0); err != nil {
			b.Fatal(err)
		}
	}
}
