package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /healthz, /readyz, /metrics and /status.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := d.ready(time.Now())
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	mux.HandleFunc("GET /{$}", d.servePage) // the status page; nothing else under /
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(d.Status()) //nolint:errcheck // the client went away
	})
	for pattern, h := range d.opts.Handlers {
		mux.Handle(pattern, h)
	}
	// A collector that fails (a /proc file hidden by the unit's sandbox)
	// must not take the other metrics down with it.
	if d.gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(d.gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	return mux
}

// The HTTP listener's bounds. It serves small answers to local probes, so
// a client that holds a connection without finishing a request, or keeps
// it idle, is cut off, and at most maxConns connections are held at once
// (the others wait in the kernel's backlog).
const (
	maxConns          = 32
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 16 << 10
)

// newHTTPServer is the server for h with the bounds above.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// listenLoopback listens on addr, which must be on loopback (localhost is
// resolved, and listened on at the address it resolved to), holding at
// most maxConns connections at once.
func listenLoopback(addr string) (net.Listener, error) {
	ip, port, err := resolveLoopback(addr, net.DefaultResolver.LookupIPAddr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, err
	}
	return limitListener(ln, maxConns), nil
}

// checkLoopback refuses listen addresses that are not on loopback: the
// listener has no authentication.
func checkLoopback(addr string) error {
	_, _, err := resolveLoopback(addr, net.DefaultResolver.LookupIPAddr)
	return err
}

// resolveLoopback returns the loopback address addr's host names, and its
// port. An IP must be loopback; "localhost" is resolved with lookup, and
// every address it resolves to must be loopback (an /etc/hosts or DNS
// answer pointing it elsewhere would expose the listener).
func resolveLoopback(addr string, lookup func(context.Context, string) ([]net.IPAddr, error)) (net.IP, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", err
	}
	notLoopback := fmt.Errorf("%q is not a loopback address (use 127.0.0.1:PORT or [::1]:PORT)", addr)
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return nil, "", notLoopback
		}
		return ip, port, nil
	}
	if !strings.EqualFold(host, "localhost") {
		return nil, "", notLoopback
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return nil, "", fmt.Errorf("resolve %s: %w", host, err)
	}
	var first net.IP
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return nil, "", fmt.Errorf("%s resolves to %s, which is not a loopback address (use 127.0.0.1:PORT or [::1]:PORT)", host, a.IP)
		}
		if first == nil || (first.To4() == nil && a.IP.To4() != nil) {
			first = a.IP
		}
	}
	if first == nil {
		return nil, "", fmt.Errorf("resolve %s: no address", host)
	}
	return first, port, nil
}

// limitListener holds at most n accepted connections open at once:
// Accept waits while n are open.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	slots chan struct{} // one value per open connection
	once  sync.Once
	done  chan struct{} // closed by Close, to release a waiting Accept
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
