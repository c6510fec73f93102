package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// serveLimited serves /healthz on a loopback listener limited to n
// connections, with the server's timeouts changed by tune.
func serveLimited(t *testing.T, n int, tune func(*http.Server)) (*limitedListener, string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(inner, n).(*limitedListener)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := newHTTPServer(mux)
	if tune != nil {
		tune(srv)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln, inner.Addr().String()
}

// get sends GET /healthz on c (keeping it alive) and reads the answer.
func get(c net.Conn, r *bufio.Reader) error {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// TestListenerHoldsAtMostLimit: with the limit taken by idle connections,
// a further client is not accepted; it is served once one of them closes.
func TestListenerHoldsAtMostLimit(t *testing.T) {
	const limit = 4
	ln, addr := serveLimited(t, limit, nil)
	var idle []net.Conn
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	for len(ln.slots) < limit {
		time.Sleep(time.Millisecond)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	if err := get(c, r); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection beyond the limit was served: %v", err)
	}
	if n := len(ln.slots); n != limit {
		t.Fatalf("%d connections held, limit %d", n, limit)
	}
	idle[0].Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.ReadString('\n'); err != nil { // the status line of the answer already asked for
		t.Fatalf("not served after a slot freed: %v", err)
	}
}

// TestIdleKeepAliveConnectionsCut: many clients that each make a request
// and then keep their connection idle are all served in turn through a
// small limit, because idle connections are closed.
func TestIdleKeepAliveConnectionsCut(t *testing.T) {
	const limit, clients = 4, 40
	ln, addr := serveLimited(t, limit, func(s *http.Server) { s.IdleTimeout = 50 * time.Millisecond })
	errs := make(chan error, clients)
	for range clients {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			r := bufio.NewReader(c)
			if err := get(c, r); err != nil {
				errs <- err
				return
			}
			// Stay idle until the server closes the connection.
			_, err = r.ReadByte()
			if err == io.EOF {
				err = nil
			}
			errs <- err
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		if n := len(ln.slots); n > limit {
			t.Fatalf("%d connections held, limit %d", n, limit)
		}
	}
}

// TestTricklingHeadersCut: a client that sends its request headers a byte
// at a time is disconnected after the header timeout.
func TestTricklingHeadersCut(t *testing.T) {
	_, addr := serveLimited(t, 4, func(s *http.Server) { s.ReadHeaderTimeout = 100 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan error, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, err := c.Read(make([]byte, 1))
		closed <- err
	}()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("server kept the connection: %v", err)
			}
			return // EOF or reset: cut off
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := c.Write([]byte("a")); err != nil {
			return // the server closed the connection
		}
		if i > 3000 {
			t.Fatal("headers trickled for a minute without being cut")
		}
	}
}

// TestHTTPServerBounds: the daemon's server has every timeout and a header
// size limit.
func TestHTTPServerBounds(t *testing.T) {
	s := newHTTPServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Fatalf("server %+v lacks a bound", s)
	}
	ln, err := listenLoopback("localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, ok := ln.(*limitedListener); !ok || !ln.Addr().(*net.TCPAddr).IP.IsLoopback() {
		t.Fatalf("listener %T on %s", ln, ln.Addr())
	}
	if _, err := listenLoopback("0.0.0.0:0"); err == nil {
		t.Fatal("listened on 0.0.0.0")
	}
}

// TestLocalhostResolved: localhost is accepted only when everything it
// resolves to is loopback, and is listened on at an address it resolved to.
func TestLocalhostResolved(t *testing.T) {
	lookup := func(ips ...string) func(context.Context, string) ([]net.IPAddr, error) {
		return func(context.Context, string) ([]net.IPAddr, error) {
			var out []net.IPAddr
			for _, ip := range ips {
				out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
			}
			return out, nil
		}
	}
	for _, tc := range []struct {
		addr string
		ips  []string
		want string // the address chosen, or the error
	}{
		{"localhost:9750", []string{"::1", "127.0.0.1"}, "127.0.0.1"},
		{"LocalHost:9750", []string{"::1"}, "::1"},
		{"localhost:9750", []string{"127.0.0.1", "192.168.1.10"}, "resolves to 192.168.1.10, which is not a loopback address"},
		{"localhost:9750", nil, "no address"},
		{"127.0.0.1:9750", []string{"192.168.1.10"}, "127.0.0.1"},
		{"pve.example.com:9750", []string{"127.0.0.1"}, "is not a loopback address"},
	} {
		ip, port, err := resolveLoopback(tc.addr, lookup(tc.ips...))
		got := fmt.Sprint(err)
		if err == nil {
			got = ip.String()
			if port != "9750" {
				t.Errorf("%s: port %q", tc.addr, port)
			}
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s resolving to %v: %s, want %s", tc.addr, tc.ips, got, tc.want)
		}
	}
	_, _, err := resolveLoopback("localhost:1", func(context.Context, string) ([]net.IPAddr, error) {
		return nil, errors.New("no resolver")
	})
	if err == nil || !strings.Contains(err.Error(), "resolve localhost: no resolver") {
		t.Errorf("lookup failure: %v", err)
	}
}
