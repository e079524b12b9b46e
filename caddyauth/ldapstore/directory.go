package ldapstore

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// A directory is the connections to one directory and what is cached from
// it. It is shared by the configs that have the same settings, so a
// reload keeps both.
type directory struct {
	cfg     LDAPStore // the settings, defaults filled in
	logger  *zap.Logger
	timeout time.Duration
	servers []*server
	search  *pool // bound as the service account
	bind    *pool // binds as users
	health  health
	creds   *ttlCache[[32]byte, *userEntry] // verified credentials
	users   *ttlCache[string, *userEntry]   // users by folded name; nil: no such user
	flight  singleflight.Group
	tag     []byte // random: part of every credential key, so two directories' keys never meet
	stop    chan struct{}
	done    chan struct{}
}

// A server is one of the directory's URLs.
type server struct {
	url       string
	addr      string // host:port
	tls       bool   // ldaps://
	tlsConfig *tls.Config

	mu        sync.Mutex
	downUntil time.Time
}

func newDirectory(s *LDAPStore) (*directory, error) {
	d := &directory{
		cfg:     *s,
		logger:  s.logger,
		timeout: time.Duration(s.Timeout),
		creds:   newTTLCache[[32]byte, *userEntry](s.CacheSize),
		users:   newTTLCache[string, *userEntry](s.CacheSize),
		tag:     make([]byte, 16),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if d.logger == nil {
		d.logger = zap.NewNop()
	}
	if _, err := rand.Read(d.tag); err != nil {
		return nil, err
	}
	for _, raw := range s.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		srv := &server{url: raw, tls: u.Scheme == "ldaps", addr: u.Host}
		if u.Port() == "" {
			port := "389"
			if srv.tls {
				port = "636"
			}
			srv.addr = net.JoinHostPort(u.Hostname(), port)
		}
		if srv.tls || s.StartTLS {
			if srv.tlsConfig, err = s.tlsConfig(u.Hostname()); err != nil {
				return nil, err
			}
		}
		d.servers = append(d.servers, srv)
	}
	d.search = newPool(d, "search", s.PoolSize)
	d.bind = newPool(d, "bind", s.PoolSize)
	go d.sweep()
	return d, nil
}

// Destruct closes the connections when the last config using the
// directory is gone.
func (d *directory) Destruct() error {
	close(d.stop)
	<-d.done
	d.search.close()
	d.bind.close()
	return nil
}

// sweep drops expired cache entries every minute.
func (d *directory) sweep() {
	defer close(d.done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.creds.sweep()
			d.users.sweep()
		}
	}
}

// dial connects to the first server that answers: TLS for ldaps://,
// StartTLS when configured, and, for the search pool, a bind as the
// service account. Every step is bounded by the timeout.
func (d *directory) dial(service bool) (*ldap.Conn, error) {
	var last error
	now := time.Now()
	for i, srv := range d.servers {
		// a server that failed is skipped during its back-off, unless it
		// is the last one left
		if !srv.usable(now) && i < len(d.servers)-1 {
			continue
		}
		c, err := d.dialServer(srv)
		count("dial", err)
		if err != nil {
			srv.failed(now)
			last = fmt.Errorf("%s: %w", srv.url, err)
			continue
		}
		srv.ok()
		if service && d.cfg.BindDN != "" {
			err := c.Bind(d.cfg.BindDN, d.cfg.BindPassword)
			count("bind", err)
			if err != nil {
				c.Close()
				if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					d.logger.Error("ldap: the directory refused the service account (bind_dn and bind_password)", zap.String("url", srv.url))
				}
				return nil, fmt.Errorf("%s: binding as the service account: %w", srv.url, err)
			}
		}
		return c, nil
	}
	return nil, last
}

func (d *directory) dialServer(srv *server) (*ldap.Conn, error) {
	raw, err := (&net.Dialer{Timeout: d.timeout}).Dial("tcp", srv.addr)
	if err != nil {
		return nil, err
	}
	// a deadline on the socket bounds the TLS handshakes, which go-ldap
	// leaves unbounded; it is lifted once the connection is ready
	_ = raw.SetDeadline(time.Now().Add(d.timeout))
	var c *ldap.Conn
	if srv.tls {
		tc := tls.Client(raw, srv.tlsConfig)
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = ldap.NewConn(tc, true)
	} else {
		c = ldap.NewConn(raw, false)
	}
	c.Start()
	c.SetTimeout(d.timeout)
	if d.cfg.StartTLS && !srv.tls {
		if err := c.StartTLS(srv.tlsConfig); err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

func (srv *server) usable(now time.Time) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return !now.Before(srv.downUntil)
}

func (srv *server) failed(now time.Time) {
	srv.mu.Lock()
	srv.downUntil = now.Add(firstBackoff * 5)
	srv.mu.Unlock()
}

func (srv *server) ok() {
	srv.mu.Lock()
	srv.downUntil = time.Time{}
	srv.mu.Unlock()
}

// errPoolBusy means every connection of a pool stayed busy for the
// timeout.
var errPoolBusy = errors.New("every directory connection is busy")

// A pool holds at most size connections of one kind.
type pool struct {
	d     *directory
	kind  string
	idle  chan *ldap.Conn
	slots chan struct{} // one per open connection
}

func newPool(d *directory, kind string, size int) *pool {
	return &pool{d: d, kind: kind, idle: make(chan *ldap.Conn, size), slots: make(chan struct{}, size)}
}

// get returns an idle connection, or a new one while the pool has room,
// waiting at most the timeout for either.
func (p *pool) get() (*ldap.Conn, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case c := <-p.idle:
			if c.IsClosing() {
				p.discard(c)
				continue
			}
			inUse.WithLabelValues(p.kind).Inc()
			return c, nil
		default:
		}
		if timer == nil {
			timer = time.NewTimer(p.d.timeout)
		}
		select {
		case c := <-p.idle:
			if c.IsClosing() {
				p.discard(c)
				continue
			}
			inUse.WithLabelValues(p.kind).Inc()
			return c, nil
		case p.slots <- struct{}{}:
			c, err := p.d.dial(p.kind == "search")
			if err != nil {
				<-p.slots
				return nil, err
			}
			open.WithLabelValues(p.kind).Inc()
			inUse.WithLabelValues(p.kind).Inc()
			return c, nil
		case <-timer.C:
			return nil, errPoolBusy
		}
	}
}

// put returns a connection after use; one that failed below LDAP (a
// network error, a timeout, garbage) is closed instead.
func (p *pool) put(c *ldap.Conn, err error) {
	inUse.WithLabelValues(p.kind).Dec()
	if transient(err) || c.IsClosing() {
		p.discard(c)
		return
	}
	select {
	case p.idle <- c:
	default:
		p.discard(c)
	}
}

func (p *pool) discard(c *ldap.Conn) {
	c.Close()
	<-p.slots
	open.WithLabelValues(p.kind).Dec()
}

// close closes the idle connections; busy ones are closed when put back.
func (p *pool) close() {
	for {
		select {
		case c := <-p.idle:
			p.discard(c)
		default:
			return
		}
	}
}

// transient reports whether an error says the directory could not be
// asked (down, slow, busy, or an answer that is not LDAP), as opposed to
// an answer.
func transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errPoolBusy) {
		return true
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultTimeout:
			return true
		}
		switch le.ResultCode {
		case ldap.ErrorNetwork, ldap.ErrorUnexpectedMessage, ldap.ErrorUnexpectedResponse:
			return true // go-ldap's own: the connection failed, or the answer is not LDAP
		}
		return false // an answer, or a request go-ldap would not send (a filter that does not compile)
	}
	return true // not an LDAP answer at all (dial, TLS)
}

// health is whether the directory is known down: after a failure that
// says so, requests get 503 at once for a back-off (1 s, doubling up to
// 30 s), then one request probes it while the others still get 503.
type health struct {
	mu        sync.Mutex
	down      bool
	downUntil time.Time
	backoff   time.Duration
	probing   bool
}

// allow reports whether a request may ask the directory; if not, how long
// to wait.
func (h *health) allow(now time.Time) (bool, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return true, 0
	}
	if now.Before(h.downUntil) {
		return false, h.downUntil.Sub(now)
	}
	if h.probing {
		return false, firstBackoff
	}
	h.probing = true
	return true, 0
}

// observe records what asking the directory gave; it reports a change of
// state (down or up again) for the log.
func (h *health) observe(err error, now time.Time) (changed, down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = false
	if !transient(err) {
		changed = h.down
		h.down, h.backoff = false, 0
		return changed, false
	}
	changed = !h.down
	h.backoff = min(max(h.backoff*2, firstBackoff), maxBackoff)
	h.down, h.downUntil = true, now.Add(h.backoff)
	return changed, true
}

// observe records an answer (or its absence) of the directory.
func (d *directory) observe(err error) {
	changed, down := d.health.observe(err, time.Now())
	if !changed {
		return
	}
	if down {
		d.logger.Error("ldap: directory unavailable; requests that need it get 503 until it answers again", zap.Error(err))
		return
	}
	d.logger.Info("ldap: directory answers again")
}
