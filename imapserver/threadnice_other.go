//go:build !linux

package imapserver

import "log/slog"

// lowerThreadPriority does nothing where threads have no priority of
// their own that Go can set: background work runs at normal priority.
func lowerThreadPriority(*slog.Logger) {}
