package imapserver

import (
	"log/slog"
	"runtime"
	"syscall"
)

// lowerThreadPriority moves the calling goroutine onto a thread of its
// own at nice 19, for background work that must only take CPU time no
// one else wants. Linux keeps a nice value per thread; the goroutine
// never unlocks the thread, so Go ends the thread with the goroutine
// rather than handing its low priority to other goroutines.
func lowerThreadPriority(log *slog.Logger) {
	runtime.LockOSThread()
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), 19); err != nil {
		log.Info("background work at normal priority", "err", err)
	}
}
