//go:build !linux

package main

// localRoot is where the client's Maildir goes: dir, as there is no
// /dev/shm tmpfs to prefer outside Linux.
func localRoot(dir string) string { return dir }
