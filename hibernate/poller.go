package hibernate

import "errors"

// ErrNotRegistered is returned by Poller.Remove when the descriptor is not
// armed: it was never added, it was removed, or it already fired (its
// callback has run or is running). A caller that gets it for a sleeping
// connection knows a wake is under way.
var ErrNotRegistered = errors.New("hibernate: descriptor not registered")

// ErrPollerClosed is returned by Poller methods after Close.
var ErrPollerClosed = errors.New("hibernate: poller closed")

// The Poller contract, common to the epoll poller (poller_linux.go) and
// the portable one (poller_other.go):
//
//   - NewPoller(ready) starts it; ready(token) is called once for each
//     Add whose descriptor becomes readable (client bytes, end of file,
//     reset or error), unless Remove for that Add returned nil first.
//     Every Add ends in exactly one of the two, so the caller never wakes
//     a connection twice or loses a wake.
//   - ready runs on the poller's goroutine (one for all descriptors with
//     epoll): it must not block; it hands the token to whatever restores
//     the session.
//   - The poller never reads, writes or closes a descriptor. The caller
//     keeps ownership, and must Remove (or have been called back) before
//     closing it, since a closed descriptor number is soon reused.
//   - Close stops the poller; ready is not called after Close returns.
