//go:build !linux

package hibernate

// Poller watches the descriptors of sleeping connections. Without epoll it
// parks one goroutine per descriptor on the Go runtime's own poller; see
// poller.go for the contract and poller_portable.go for the costs.
type Poller struct {
	p *portablePoller
}

// NewPoller starts a poller that calls ready with the token of each
// descriptor that becomes readable.
func NewPoller(ready func(token uint64)) (*Poller, error) {
	p, err := newPortablePoller(ready)
	if err != nil {
		return nil, err
	}
	return &Poller{p: p}, nil
}

// Add arms fd: ready(token) is called once when it becomes readable,
// including when data is already waiting. fd must be a socket the caller
// owns (see Detach).
func (p *Poller) Add(fd int, token uint64) error { return p.p.Add(fd, token) }

// Remove disarms fd. It returns ErrNotRegistered when fd is not armed,
// in particular when it has fired: then the callback has run or is about
// to, and the caller must treat the connection as waking.
func (p *Poller) Remove(fd int) error { return p.p.Remove(fd) }

// Close stops the poller and waits for its goroutines; ready is not
// called after Close returns. Descriptors still armed are left open.
func (p *Poller) Close() error { return p.p.Close() }
