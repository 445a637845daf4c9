package imapserver

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapview"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// The proxy hop (docs/design.md, "The proxy hop"): a trusted proxy, which
// authenticated the client itself, opens a session for it with XPROXY, or
// resumes one with XRESUME from a state blob this server (or another
// backend of the user's) handed it. Such a session is proxied: where a
// session would hibernate here, it hands off instead (handOff): it writes
// "* XSLEEP <read> {n}" and its state blob, and the connection ends; the
// client sleeps at the proxy, and this server holds nothing for it. The
// commands exist only with Config.ProxySecret set, and are never
// advertised.

// isHopCommand reports whether name is one of the proxy hop's commands.
func isHopCommand(name string) bool { return name == "XPROXY" || name == "XRESUME" }

// command looks a command up for this server: the hop's commands are
// unknown without a proxy secret.
func (c *conn) command(name string) (cmdSpec, bool) {
	if isHopCommand(name) && c.srv.cfg.ProxySecret == "" {
		return cmdSpec{}, false
	}
	return lookupCommand(name)
}

// Reasons an XRESUME is refused, a metric label.
const (
	resumeRefusedSecret      = "secret"         // wrong secret
	resumeRefusedBlob        = "blob"           // the blob does not decode or check
	resumeRefusedTransport   = "transport"      // the blob carries TLS or COMPRESS state
	resumeRefusedUser        = "user"           // no such user
	resumeRefusedUIDValidity = "uidvalidity"    // the mailbox was recreated
	resumeRefusedMailbox     = "mailbox"        // the mailbox is gone
	resumeRefusedStore       = "store"          // the store failed
	resumeRefusedAddr        = "client_address" // the client address is not an address
)

// proxySecretOK compares a presented secret with the configured one in
// constant time; a wrong one is counted as a failed login of the hop's
// address, whose penalty the next attempt waits out, and is answered
// after the failed-login pause, as LOGIN's are.
func (c *conn) proxySecretOK(secret string) error {
	const key = "*proxy*" // no user name has stars
	if err := c.loginPenaltyWait(key); err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.srv.cfg.ProxySecret)) == 1 {
		// As a good password: the proxy's address is exempt from the
		// penalty others' failures from it earn.
		c.srv.penalty.succeeded(c.addrKey, key)
		return nil
	}
	c.srv.cfg.Metrics.login(false)
	c.log.Warn("proxy presented a wrong secret", "remote", c.addrKey)
	c.loginFailed(key)
	return errNO("AUTHENTICATIONFAILED", "Invalid proxy secret")
}

// proxiedUser returns the mail user's name of a user the proxy names, as
// the passwd-file spells it.
func (c *conn) proxiedUser(name string) (string, error) {
	lk, _ := c.srv.cfg.Auth.(userLookup) // checked by New
	user, ok, err := lk.LookupUser(name)
	if err != nil {
		c.log.Error("look up proxied user", "user", name, "err", err)
		return "", &respError{code: "UNAVAILABLE", text: "Authentication unavailable", err: err}
	}
	if !ok {
		c.log.Info("proxy named an unknown user", "user", name)
		return "", errNO("AUTHENTICATIONFAILED", "Unknown user")
	}
	return user, nil
}

// clientAddrKey turns the client address a proxy gives ("ip" or
// "ip:port") into the key limits count it under (addrKey).
func clientAddrKey(s string) (string, bool) {
	host := s
	if h, _, err := net.SplitHostPort(s); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", false
	}
	return addrKey(&net.TCPAddr{IP: ip}), true
}

// becomeProxied turns the logged-in connection into a proxied session
// for the client at client ("" keeps the hop's address): the hop no
// longer counts as an unauthenticated connection of the proxy's address,
// limits count the client's address, and logs carry it.
func (c *conn) becomeProxied(client string) {
	c.leavePreAuth()
	c.proxied = true
	if client == "" {
		return
	}
	key, _ := clientAddrKey(client) // checked by the caller
	c.addrKey = key
	c.admin.client.Store(&client)
	c.logBase = c.logBase.With("client", client)
	c.log = c.logBase
}

// handleXProxy serves XPROXY secret user client-address: the session of
// user, whom the proxy authenticated, for the client at client-address.
func handleXProxy(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.XProxyArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	if err := c.proxySecretOK(a.Secret); err != nil {
		return err
	}
	clientKey, ok := clientAddrKey(a.ClientAddr)
	if !ok {
		return errBAD("", "Invalid client address")
	}
	name, err := c.proxiedUser(a.User)
	if err != nil {
		c.srv.cfg.Metrics.login(false)
		return err
	}
	hopKey := c.addrKey
	c.addrKey = clientKey
	err = c.countUser(name, false)
	c.addrKey = hopKey
	if err != nil {
		c.srv.cfg.Metrics.login(false)
		return err
	}
	u, err := c.srv.cfg.Store.User(c.ctx, name)
	if err != nil {
		c.uncountUserAt(clientKey)
		c.srv.cfg.Metrics.login(false)
		return &respError{code: "UNAVAILABLE", text: "Mail store unavailable", err: fmt.Errorf("open user %s: %w", name, err)}
	}
	c.srv.cfg.Metrics.login(true)
	c.user, c.username, c.state = u, name, stateAuth
	c.admin.setUser(name)
	c.logBase = c.logBase.With("user", name)
	c.log = c.logBase
	c.becomeProxied(a.ClientAddr)
	c.log.Info("logged in", "proxy", hopKey)
	c.okCode = "CAPABILITY " + c.capabilities()
	c.okText = "Logged in"
	return nil
}

// uncountUserAt releases a count taken under another address than
// c.addrKey.
func (c *conn) uncountUserAt(key string) {
	if c.userCounted != "" {
		c.srv.userConns.release(c.userCounted, key)
		c.userCounted = ""
	}
}

// hopTransport reports whether st carries transport state, which a hop
// never does: TLS and COMPRESS end at the proxy.
func hopTransport(st *hibernate.State) bool { return st.TLS || compressed(st) }

// handleXResume serves XRESUME secret [client-address] blob: the session
// of the blob, restored on this connection as a local sleeper's wake
// restores it (restoreState), and answered "tag OK resumed" before
// anything else. In IDLE it goes on with what an IDLE sleeper woken now
// would be told; between commands the changes wait for the next command.
func handleXResume(c *conn, cmd *imapwire.Command) error {
	a, _ := cmd.Args.(*imapwire.XResumeArgs)
	if a == nil {
		return errBAD("", "Missing arguments")
	}
	st, err := c.resumable(a)
	if err != nil {
		return err
	}
	if err := c.restoreState(st); err != nil {
		return c.refuseResume(err)
	}
	c.becomeProxied(a.ClientAddr)
	// Counted again without a check, as a woken sleeper is: a session
	// in the middle of its IDLE cannot be refused.
	c.countUser(c.username, true)
	c.srv.cfg.Metrics.resumed(st.IdleTag != "")
	c.log.Debug("resumed", "tag", st.IdleTag, "mailbox", st.Mailbox)
	c.w.Raw(cmd.Tag).Raw(" OK resumed").CRLF()
	if st.IdleTag == "" {
		return errTaggedDone
	}
	c.resumed = true
	if !c.exec(&imapwire.Command{Tag: st.IdleTag, Name: "IDLE"}) {
		return errConnEnded
	}
	return errTaggedDone
}

// errConnEnded ends a session whose connection a nested command ended
// (handed off, or said BYE) without a further word.
var errConnEnded = errHibernated

// resumable checks XRESUME's arguments: the secret, the client address,
// the blob as untrusted input (adoptable, as for an upgrade), no transport
// state, a user that exists.
func (c *conn) resumable(a *imapwire.XResumeArgs) (*hibernate.State, error) {
	m := c.srv.cfg.Metrics
	if err := c.proxySecretOK(a.Secret); err != nil {
		m.resumeRefusedBy(resumeRefusedSecret)
		return nil, err
	}
	if _, ok := clientAddrKey(a.ClientAddr); a.ClientAddr != "" && !ok {
		m.resumeRefusedBy(resumeRefusedAddr)
		return nil, errBAD("", "Invalid client address")
	}
	st, err := adoptable(a.Blob)
	if err != nil {
		m.resumeRefusedBy(resumeRefusedBlob)
		c.log.Warn("proxy sent a bad state blob", "err", err)
		return nil, &respError{code: "CANNOT", text: "Invalid state blob", err: err}
	}
	if hopTransport(st) {
		m.resumeRefusedBy(resumeRefusedTransport)
		return nil, errNO("CANNOT", "State blob with TLS or COMPRESS state: those end at the proxy")
	}
	name, err := c.proxiedUser(st.User)
	if err != nil {
		m.resumeRefusedBy(resumeRefusedUser)
		return nil, err
	}
	st.User = name
	return st, nil
}

// refuseResume undoes a restore that failed (the session is not
// authenticated again, as after UNAUTHENTICATE) and answers with the
// words a woken sleeper, or an awake session, would have said in its BYE
// (resume, storeError): the proxy says them to the client.
func (c *conn) refuseResume(err error) error {
	c.endSession()
	m := c.srv.cfg.Metrics
	switch {
	case errors.Is(err, mailstore.ErrUIDValidity):
		m.resumeRefusedBy(resumeRefusedUIDValidity)
		return &respError{code: "CANNOT", text: "Mailbox UIDVALIDITY changed, reselect", err: err}
	case errors.Is(err, imapview.ErrForeignState):
		m.resumeRefusedBy(resumeRefusedBlob)
		return &respError{code: "CANNOT", text: "Invalid state blob", err: err}
	case errors.Is(err, mailstore.ErrNoMailbox):
		m.resumeRefusedBy(resumeRefusedMailbox)
		return &respError{code: "NONEXISTENT", text: "Selected mailbox was deleted, have to disconnect", err: err}
	}
	m.resumeRefusedBy(resumeRefusedStore)
	return &respError{code: "UNAVAILABLE", text: "Internal error", err: err}
}

// handOff ends a proxied session where a local one would hibernate: its
// state goes to the proxy as "* XSLEEP <read> {n}\r\n<blob>\r\n", where
// read is every byte this server read from the connection (the proxy
// counts what it wrote: the difference is what it sent that was never
// read, and must send again with the resume), and the connection closes.
// Nothing stays here but a lease on the mailbox's folder watch
// (proxyhop_watch.go): no table entry, no subscription. The caller, the session
// goroutine, has checked that nothing is buffered either way.
func (c *conn) handOff(st *hibernate.State) error {
	if hopTransport(st) {
		return errNotExportable("hop_transport")
	}
	if c.notify != nil && c.notify.spec.watchesOthers() {
		// Its other mailboxes' events would fall between the handoff
		// and the resume: here no queue keeps them (a local sleeper's
		// does, notify_sleep.go), and the blob cannot say what changed
		// elsewhere. It stays awake.
		return errNotExportable("hop_notify")
	}
	blob, err := st.MarshalBinary()
	if err != nil {
		return fmt.Errorf("hand off: %w", err)
	}
	// Held before the session lets go of its own watch (at its end), so
	// the folders stay watched throughout.
	c.srv.handoffWatches.keep(st.User, st.Mailbox)
	read := c.hopRead - int64(c.br.Buffered())
	c.w.Raw("* XSLEEP ").Number(uint64(read)).SP().Literal(blob).CRLF()
	if err := c.flush(); err != nil {
		c.log.Debug("hand off", "err", err)
	}
	c.srv.cfg.Metrics.handedOff()
	if slept := c.srv.cfg.Slept; slept != nil {
		// Its goroutine, buffers and view are freed as a sleeper's
		// are: the memory policy returns a wave of them (config.go).
		slept(time.Now())
	}
	c.log.Debug("handed off", "tag", st.IdleTag, "mailbox", st.Mailbox, "blob", len(blob))
	return nil
}
