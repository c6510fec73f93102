package session

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/builder"
	"templated/internal/image"
	"templated/internal/mirror"
	"templated/internal/packer"
	"templated/internal/proxmox"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

// Settings open a Session. The zero values of the optional fields are
// the real things: a Proxmox client from Conn, the Packer at PackerBinary.
type Settings struct {
	// DesiredPath is the desired file as given (recorded in the ledger;
	// its directory is where the git commit is read).
	DesiredPath string
	// PackerRoot is the Packer workspace (default: workspace.DefaultRoot
	// of DesiredPath).
	PackerRoot string
	// StateDir holds the journal, holds, locks and Packer's PID files.
	StateDir string
	// EvidenceDir is the ledger's evidence root; LedgerKey its signing key
	// (default: ledger.DefaultKeyPath).
	EvidenceDir string
	LedgerKey   string
	// Conn is the connection to Proxmox; its secret reaches Packer through
	// its environment only, and the ledger refuses and redacts it.
	Conn proxmox.Config
	// PackerBinary, KillGrace and Communicator configure the real Packer
	// (see packer.Runner and builder.Packer).
	PackerBinary string
	KillGrace    time.Duration
	Communicator string
	// Parallel bounds builds overall and PerNode per node (default 1 and
	// Parallel); KeepFailed keeps a failed build's staging VM.
	Parallel   int
	PerNode    int
	KeepFailed bool
	// LeaseWait bounds how long a run waits for the cluster lease another
	// installation holds (0: refuse at once, naming the holder).
	LeaseWait time.Duration
	// leasePoll is how often a waiting run looks at the lease again
	// (lease's default when zero; tests shorten it).
	leasePoll time.Duration
	// Version is templated's own version, for the evidence.
	Version string
	// ImageMirrors send the images' and their checksum files' URLs to
	// mirrors (mirror.Rewrite); nil reads them from TEMPLATED_IMAGE_MIRRORS
	// through Getenv when the session opens (mirror.ParseMirrors).
	ImageMirrors []mirror.Mapping
	// ImageInterval is how long a vendor's checksum file is used without
	// asking its server again (default image.DefaultMinInterval; negative
	// asks every time). The files are cached in <StateDir>/image-cache.
	ImageInterval time.Duration
	// ImageClient fetches the checksum files (nil: image.DefaultClient,
	// which takes proxies from the environment); tests give one that
	// refuses anything off loopback.
	ImageClient *http.Client
	// Getenv reads the environment (CI detection, the key's default place,
	// TEMPLATED_IMAGE_MIRRORS).
	Getenv func(string) string
	// Log receives the session's logs (nil: discarded).
	Log logrus.FieldLogger

	// Cluster replaces the Proxmox client made from Conn (tests).
	Cluster reconcile.Cluster
	// Tools replaces the Packer at PackerBinary (tests).
	Tools Tools
}

// Tools is what a session needs of the Packer installation.
type Tools interface {
	// Version is Packer's version; it is part of every inputs hash.
	Version(ctx context.Context) (string, error)
	// Plugins maps each installed plugin's source to its version, for the
	// evidence.
	Plugins(ctx context.Context) (map[string]string, error)
	// ReapOrphans waits for the Packer processes an interrupted templated
	// left cleaning up, so their staging VMIDs are free; it returns how
	// many there were.
	ReapOrphans(ctx context.Context) (int, error)
	// Builder builds templates from the Packer workspace at root;
	// packerVersion is what Version returned.
	Builder(packerVersion, root string) reconcile.Builder
}

func (s Settings) withDefaults() Settings {
	s.PackerRoot = cmp.Or(s.PackerRoot, workspace.DefaultRoot(s.DesiredPath))
	if s.Parallel < 1 {
		s.Parallel = 1
	}
	if s.PerNode < 1 {
		s.PerNode = s.Parallel
	}
	if s.Getenv == nil {
		s.Getenv = func(string) string { return "" }
	}
	if s.ImageInterval == 0 {
		s.ImageInterval = image.DefaultMinInterval
	}
	if s.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		s.Log = l
	}
	return s
}

// packerRoot is the Packer workspace d is built from: a fetched
// revision's own checkout, or the configured workspace.
func packerRoot(d *state.Desired, set Settings) string {
	if d.Revision != nil && d.PackerRoot != "" {
		return d.PackerRoot
	}
	return set.PackerRoot
}

// EnvImageMirrors names the variable that maps the vendors' download
// sites to mirrors (an air-gapped site's, or the loopback stand-in's).
const EnvImageMirrors = "TEMPLATED_IMAGE_MIRRORS"

// imageCacheDir is where, under the state directory, the vendors'
// checksum files are cached.
const imageCacheDir = "image-cache"

// withMirrors reads ImageMirrors from TEMPLATED_IMAGE_MIRRORS unless they
// were given; a malformed value is an error naming the variable.
func (s Settings) withMirrors() (Settings, error) {
	if s.ImageMirrors != nil {
		return s, nil
	}
	ms, err := mirror.ParseMirrors(s.Getenv(EnvImageMirrors))
	if err != nil {
		return s, fmt.Errorf("%s: %w", EnvImageMirrors, err)
	}
	s.ImageMirrors = ms
	return s, nil
}

// fetcher is the checksum file fetcher a session keeps for its life, so
// that its memory cache serves every run (without a state directory it
// keeps nothing on disk). Its client takes proxies from the process's
// environment (image.DefaultClient).
func (s Settings) fetcher() *image.Fetcher {
	f := &image.Fetcher{Client: s.ImageClient, MinInterval: s.ImageInterval, Log: s.Log}
	if s.StateDir != "" {
		f.CacheDir = filepath.Join(s.StateDir, imageCacheDir)
	}
	return f
}

// connect returns the cluster: Settings.Cluster, or a client for Conn.
func (s Settings) connect() (reconcile.Cluster, error) {
	if s.Cluster != nil {
		return s.Cluster, nil
	}
	cl, err := proxmox.New(s.Conn, proxmox.Options{Log: s.Log})
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// tools returns Settings.Tools, or the real Packer.
func (s Settings) tools(cluster reconcile.Cluster) Tools {
	if s.Tools != nil {
		return s.Tools
	}
	iso, _ := cluster.(builder.ISOStore)
	return &packerTools{
		runner: &packer.Runner{Packer: s.PackerBinary, Log: s.Log, PIDDir: filepath.Join(s.StateDir, "packer"), KillGrace: s.KillGrace},
		build: builder.Packer{Root: s.PackerRoot, Communicator: s.Communicator, ISOStore: iso, Log: s.Log,
			Conn: workspace.Conn{URL: s.Conn.URL, TokenID: s.Conn.TokenID, TokenSecret: s.Conn.TokenSecret.Reveal(),
				CAFile: s.Conn.CAFile, InsecureSkipTLSVerify: s.Conn.InsecureSkipTLSVerify}},
		killGrace: s.KillGrace,
	}
}

// packerTools is the real Packer: packer.Runner and builder.Packer.
type packerTools struct {
	runner    *packer.Runner
	build     builder.Packer
	killGrace time.Duration
}

func (p *packerTools) Version(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := p.runner.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("packer version (needed for the inputs hash; install Packer or set -packer): %w", err)
	}
	return v, nil
}

func (p *packerTools) Plugins(ctx context.Context) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	plugins, err := p.runner.PluginVersions(ctx)
	if err != nil {
		return nil, err
	}
	// Packer loads the newest installed version of a plugin.
	out := make(map[string]string, len(plugins))
	for _, pl := range plugins {
		src := cmp.Or(pl.Source, pl.Name)
		if _, seen := out[src]; seen {
			continue
		}
		if newest, ok := packer.Newest(plugins, pl.Source); ok && pl.Source != "" {
			pl = newest
		}
		out[src] = pl.Version
	}
	return out, nil
}

func (p *packerTools) ReapOrphans(ctx context.Context) (int, error) {
	return packer.ReapOrphans(ctx, p.runner.PIDDir, p.killGrace)
}

func (p *packerTools) Builder(packerVersion, root string) reconcile.Builder {
	b := p.build
	b.Runner, b.PackerVersion, b.Root = p.runner, packerVersion, root
	return &b
}
