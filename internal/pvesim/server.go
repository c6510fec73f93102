package pvesim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/atomicfile"
)

// Options configure a simulator. The zero value is a usable default.
type Options struct {
	// Listen is the address to listen on (default "127.0.0.1:0"). Only
	// loopback addresses are accepted.
	Listen string
	// NoTLS serves plain HTTP. By default the server speaks HTTPS with a
	// certificate from a CA generated at start (see CAFile).
	NoTLS bool
	// CAFile is where the CA certificate is written (PEM). Default: a file
	// in a temporary directory that Close removes.
	CAFile string
	// Seed is the starting cluster; nil means DefaultSeed(). Ignored when
	// StatePath exists.
	Seed *Seed
	// StatePath persists the cluster (JSON, written atomically after each
	// change and on Close) and is loaded at start if it exists.
	StatePath string
	// Tokens maps token ids ("root@pam!templated") to secrets. Empty means
	// one token root@pam!templated with a random secret.
	Tokens map[string]string
	// TaskDuration is how long a task runs at least: 0 means the default
	// (300ms), a negative value ends it right after the first status poll.
	// A task is always seen "running" by the first status poll.
	TaskDuration time.Duration
	// AuthFailDelay delays every 401, as PVE does by 3s (default 0).
	AuthFailDelay time.Duration
	// Logger receives one entry per request (nil: discard).
	Logger logrus.FieldLogger
	// DataDir keeps the bytes of files download-url fetched, as
	// DataDir/<storage>/<template/iso|template/cache|import>/<file>.
	// Empty: a temporary directory, made at the first download and
	// removed by Close.
	DataDir string
}

// DefaultTaskDuration is the TaskDuration used when Options leave it unset.
const DefaultTaskDuration = 300 * time.Millisecond

// defaultTokenID is the token made when Options.Tokens is empty.
const defaultTokenID = "root@pam!templated"

// Server is a running simulator.
type Server struct {
	opts     Options
	log      logrus.FieldLogger
	cluster  *Cluster
	mux      *http.ServeMux // the routes
	faults   *Faults
	reqs     requestLog
	ln       net.Listener
	http     *http.Server
	url      string
	caPEM    []byte
	caFile   string
	tmpDir   string
	tokens   map[string]string
	tokenID  string
	dirty    chan struct{}
	stopSave chan struct{}
	saveDone chan struct{}
	saveErr  error
	closeMu  sync.Mutex
	closed   bool
	served   chan struct{}
}

// Start starts a simulator and returns once it accepts connections.
func Start(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if err := checkLoopback(opts.Listen); err != nil {
		return nil, err
	}
	if opts.TaskDuration == 0 {
		opts.TaskDuration = DefaultTaskDuration
	} else if opts.TaskDuration < 0 {
		opts.TaskDuration = 0
	}
	s := &Server{opts: opts, log: opts.Logger, mux: routes(), faults: &Faults{}, dirty: make(chan struct{}, 1),
		stopSave: make(chan struct{}), saveDone: make(chan struct{}), served: make(chan struct{})}
	if s.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		s.log = l
	}
	seed, err := s.loadInitial()
	if err != nil {
		return nil, err
	}
	if err := s.initTokens(opts.Tokens, seed.Access); err != nil {
		return nil, err
	}
	s.cluster, err = newCluster(seed, opts.TaskDuration)
	if err != nil {
		return nil, fmt.Errorf("build cluster: %w", err)
	}
	s.cluster.files.dir = opts.DataDir
	for _, f := range seed.Faults {
		if _, err := s.faults.Add(f); err != nil {
			return nil, err
		}
	}
	if err := s.listen(); err != nil {
		s.cleanupTemp()
		return nil, err
	}
	if opts.StatePath != "" {
		s.cluster.onChange = func() {
			select {
			case s.dirty <- struct{}{}:
			default:
			}
		}
		go s.saveLoop()
		s.markDirty()
	} else {
		close(s.saveDone)
	}
	go func() {
		defer close(s.served)
		_ = s.http.Serve(s.ln)
	}()
	s.log.WithFields(logrus.Fields{"url": s.url, "token_id": s.tokenID}).Info("pve simulator listening")
	return s, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to listen on %q: the simulator only listens on loopback addresses (127.0.0.1, ::1, localhost)", addr)
	}
	return nil
}

// initTokens accepts Options.Tokens and the seed's tokens with a secret.
// Without Options.Tokens and without seed secrets there is one token
// root@pam!templated with a random secret. The default token (TokenID)
// is root@pam!templated if present, else the seed's first token with a
// secret, else the first by name.
func (s *Server) initTokens(tokens map[string]string, acc *AccessSpec) error {
	s.tokens = map[string]string{}
	first := ""
	if acc != nil {
		for _, t := range acc.Tokens {
			if t.Secret == "" {
				if _, ok := tokens[t.ID]; !ok {
					return fmt.Errorf("seed token %s: no secret (in the seed or Options.Tokens)", t.ID)
				}
				continue
			}
			s.tokens[t.ID] = t.Secret
			first = cmpOr(first, t.ID)
		}
	}
	for id, secret := range tokens {
		if !reTokenID.MatchString(id) {
			return fmt.Errorf("token id %q: want USER@REALM!TOKENID", id)
		}
		if secret == "" {
			return fmt.Errorf("token %s: empty secret", id)
		}
		s.tokens[id] = secret
	}
	if len(s.tokens) == 0 {
		s.tokens[defaultTokenID] = randomSecret()
	}
	if _, ok := s.tokens[defaultTokenID]; ok {
		s.tokenID = defaultTokenID
	} else if first != "" {
		s.tokenID = first
	} else {
		ids := make([]string, 0, len(s.tokens))
		for id := range s.tokens {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		s.tokenID = ids[0]
	}
	return nil
}

// randomSecret is a UUID, the shape of PVE's token secrets.
func randomSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) loadInitial() (*Seed, error) {
	if s.opts.StatePath != "" {
		seed, err := loadState(s.opts.StatePath)
		if err == nil {
			if s.opts.Seed != nil {
				seed.Faults = s.opts.Seed.Faults
			}
			return seed, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if s.opts.Seed != nil {
		if err := s.opts.Seed.validate(); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		return s.opts.Seed, nil
	}
	return DefaultSeed(), nil
}

func (s *Server) listen() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http"
	if !s.opts.NoTLS {
		caPEM, cert, err := newCertificates()
		if err != nil {
			ln.Close()
			return err
		}
		s.caPEM = caPEM
		if err := s.writeCA(); err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert},
			NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String() + "/api2/json"
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		// No HTTP/2: error answers need HTTP/1.1 reason phrases.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     log.New(logWriter{s.log}, "", 0),
	}
	return nil
}

func (s *Server) writeCA() error {
	path := s.opts.CAFile
	if path == "" {
		dir, err := os.MkdirTemp("", "pvesim-")
		if err != nil {
			return fmt.Errorf("ca dir: %w", err)
		}
		s.tmpDir = dir
		path = filepath.Join(dir, "pve-root-ca.pem")
	}
	if err := atomicfile.WriteFile(path, s.caPEM, 0o644); err != nil {
		return fmt.Errorf("write ca file: %w", err)
	}
	s.caFile = path
	return nil
}

func (s *Server) cleanupTemp() {
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}

// URL is the API base URL, e.g. "https://127.0.0.1:41234/api2/json".
func (s *Server) URL() string { return s.url }

// CAFile is the path of the CA certificate ("" with NoTLS).
func (s *Server) CAFile() string { return s.caFile }

// CACertPEM is the CA certificate (nil with NoTLS).
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// TokenID is the default token's id ("root@pam!templated").
func (s *Server) TokenID() string { return s.tokenID }

// TokenSecret is the default token's secret.
func (s *Server) TokenSecret() string { return s.tokens[s.tokenID] }

// AuthHeader is the Authorization header value for the default token.
func (s *Server) AuthHeader() string { return "PVEAPIToken=" + s.tokenID + "=" + s.TokenSecret() }

// Cluster gives direct access to the simulated state.
func (s *Server) Cluster() *Cluster { return s.cluster }

// Faults gives access to fault injection.
func (s *Server) Faults() *Faults { return s.faults }

// Node is the first node's name ("pve1" in the default seed).
func (s *Server) Node() string { return s.cluster.nodes[0].Name }

// Close stops serving, stops the downloads under way, saves the state (if
// StatePath is set) and removes the temporary CA and data directories.
// Running tasks are abandoned.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	<-s.served
	s.cluster.mu.Lock()
	s.cluster.closed = true
	s.cluster.mu.Unlock()
	s.cluster.stopWorkers()
	close(s.stopSave)
	<-s.saveDone
	s.cleanupTemp()
	if s.saveErr != nil {
		return s.saveErr
	}
	if ferr := s.cluster.files.close(); ferr != nil {
		return ferr
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("close server: %w", err)
	}
	return nil
}

func (s *Server) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// saveLoop writes the state file after changes; it ends when stopSave
// closes, after a final save.
func (s *Server) saveLoop() {
	defer close(s.saveDone)
	for {
		select {
		case <-s.dirty:
			if err := s.save(); err != nil {
				s.log.WithError(err).Error("save state")
			}
		case <-s.stopSave:
			if err := s.save(); err != nil {
				s.saveErr = err
			}
			return
		}
	}
}

func (s *Server) save() error {
	s.cluster.mu.RLock()
	seed := s.cluster.exportLocked()
	s.cluster.mu.RUnlock()
	return saveState(s.opts.StatePath, seed)
}

// logWriter sends net/http's own messages (TLS handshake errors) to the
// injected logger at debug level.
type logWriter struct{ l logrus.FieldLogger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

var reTokenID = regexp.MustCompile(`^[^\s@!=]+@[^\s@!=]+![A-Za-z][A-Za-z0-9._-]*$`)

func trimAPI(p string) (string, bool) {
	const prefix = "/api2/json"
	if p == prefix {
		return "/", true
	}
	if strings.HasPrefix(p, prefix+"/") {
		return strings.TrimPrefix(p, prefix), true
	}
	return "", false
}
