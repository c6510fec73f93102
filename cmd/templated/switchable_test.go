package main

import (
	"cmp"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// switchable is a loopback HTTP server that can go down and come back on
// the same address (a git remote or a webhook receiver "down for a
// while").
type switchable struct {
	t       testing.TB
	handler http.Handler
	addr    string

	mu  sync.Mutex
	srv *http.Server
}

// newSwitchable starts h on a loopback port; it is stopped at the end of
// the test.
func newSwitchable(t testing.TB, h http.Handler) *switchable {
	s := &switchable{t: t, handler: h}
	s.up()
	t.Cleanup(s.down)
	return s
}

func (s *switchable) url() string { return "http://" + s.addr }

// up listens (again) on the server's address.
func (s *switchable) up() {
	s.t.Helper()
	addr := cmp.Or(s.addr, "127.0.0.1:0")
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck // ends with down
}

// down closes the listener and every connection.
func (s *switchable) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
}
