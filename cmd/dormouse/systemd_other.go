//go:build !linux

package main

import "net"

// activatedListeners returns nil: socket activation is systemd's, on Linux.
func activatedListeners() (map[string]net.Listener, error) { return nil, nil }

// notifier does nothing away from Linux: there is no systemd to tell.
type notifier struct{}

func newNotifier() notifier { return notifier{} }

func (notifier) notify(string) error { return nil }

func reloading() (string, error) { return "RELOADING=1", nil }
