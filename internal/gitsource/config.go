package gitsource

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"templated/internal/redact"
)

// Auth holds the credentials of the remote.
type Auth struct {
	// Username and Password are HTTPS basic auth; a token goes in
	// Password (Username defaults to "git" when only Password is set).
	Username, Password string
	// SSHKeyFile and SSHKeyPassphrase are the SSH private key.
	SSHKeyFile, SSHKeyPassphrase string
	// KnownHostsFile is the SSH known_hosts file; required for SSH (the
	// host key is always checked).
	KnownHostsFile string
	// CAFile is a PEM bundle of the CAs an HTTPS git host's certificate
	// may chain to, besides the system's ("": the system's only).
	CAFile string
}

// Config configures a Source.
type Config struct {
	// URL is https://host/org/repo.git, ssh://git@host/org/repo.git,
	// git@host:org/repo.git or file:///path. A password in it is moved
	// into Auth and shown nowhere.
	URL string
	// Ref is a branch ("main", "refs/heads/main"), a tag ("tag:v1.2.0",
	// "refs/tags/v1.2.0") or a semver range ("semver:>= 1.2, < 2.0": the
	// newest tag vX.Y.Z or X.Y.Z in range; pre-releases only when the
	// range names one).
	Ref string
	// Path is the repository's subdirectory holding desired/ and packer/
	// ("" is the top).
	Path string
	// Interval is how often Run fetches (default 1m); Timeout bounds each
	// fetch (default 2m).
	Interval, Timeout time.Duration
	// Dir is the source's own state directory (created 0700).
	Dir  string
	Auth Auth
	// Verifier checks commit signatures (nil: no verification).
	Verifier Verifier
	// Validate checks a candidate checkout's root (checkout + Path);
	// nil: no check.
	Validate func(ctx context.Context, root string) error
	// Recorder records acceptances and refusals (nil: none).
	Recorder Recorder
	Log      logrus.FieldLogger
	// Registerer registers the metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// newSource checks cfg, fills in its defaults and builds the Source
// (without touching the disk).
func newSource(cfg Config) (*Source, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		cfg.Log = l
	}
	if cfg.Dir == "" {
		return nil, errors.New("git source: dir is required")
	}
	path, err := cleanPath(cfg.Path)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	ref, err := parseRef(cfg.Ref)
	if err != nil {
		return nil, err
	}
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Auth.Username == "" {
		cfg.Auth.Username = u.user
	}
	if cfg.Auth.Password == "" {
		cfg.Auth.Password = u.password
	}
	if cfg.Auth.Username == "" && cfg.Auth.Password != "" {
		cfg.Auth.Username = "git"
	}
	secrets := &redact.Secrets{}
	for label, v := range map[string]string{"password": cfg.Auth.Password, "url password": u.password,
		"ssh key passphrase": cfg.Auth.SSHKeyPassphrase} {
		if err := secrets.Add(label, v); err != nil {
			cfg.Log.WithField("secret", label).Warn("git source: secret too short to redact reliably")
		}
	}
	s := &Source{
		cfg: cfg, url: u.clean, ssh: u.ssh, ref: ref, secrets: secrets,
		log:      cfg.Log.WithFields(logrus.Fields{"component": "gitsource", "url": u.clean, "ref": cfg.Ref}),
		syncSem:  make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
		changes:  make(chan string, 1),
		reported: map[refusalKey]bool{},
	}
	s.m = newMetrics(s.revisionAge)
	s.status = Status{URL: u.clean, Ref: cfg.Ref}
	if u.ssh {
		if _, err := s.sshAuth(); err != nil {
			return nil, err
		}
	}
	return s, nil
}
