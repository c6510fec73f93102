package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/journal"
	"templated/internal/packer"
	"templated/internal/proxmox"
	"templated/internal/state"
	"templated/internal/workspace"
)

// Default paths, relative to the working directory (the repository).
const (
	defaultDesired  = "desired/templates.yaml"
	defaultEvidence = "output/artifacts/infra/packer"
	defaultState    = "output/state"
)

// common holds the flags most commands share and builds what they need
// from them.
type common struct {
	env       *cmdEnv
	desired   string
	envFile   string
	stateDir  string
	evidence  string
	packerBin string
	logFormat string
	logLevel  string
	killGrace time.Duration

	log logrus.FieldLogger
}

func (c *common) register(fs *flag.FlagSet, env *cmdEnv) {
	c.env = env
	fs.StringVar(&c.desired, "f", orDefault(env.Getenv("TEMPLATED_DESIRED"), defaultDesired), "desired state `file`")
	fs.StringVar(&c.envFile, "env-file", env.Getenv("TEMPLATED_ENV_FILE"), "Proxmox connection settings (`.env` format); default: ./.env when present")
	fs.StringVar(&c.stateDir, "state-dir", orDefault(env.Getenv("TEMPLATED_STATE_DIR"), defaultState), "journal, holds and lock `dir`")
	fs.StringVar(&c.evidence, "evidence-dir", orDefault(env.Getenv("TEMPLATED_EVIDENCE_DIR"), defaultEvidence), "evidence and ledger `dir`")
	fs.StringVar(&c.packerBin, "packer", orDefault(env.Getenv("TEMPLATED_PACKER"), "packer"), "Packer `binary` (PACKER_PLUGIN_PATH is passed through)")
	fs.DurationVar(&c.killGrace, "packer-kill-grace", packer.DefaultKillGrace, "how long Packer may clean up after SIGINT (a stop or a build timeout) before it is killed")
	fs.StringVar(&c.logFormat, "log-format", orDefault(env.Getenv("TEMPLATED_LOG_FORMAT"), "text"), "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", orDefault(env.Getenv("TEMPLATED_LOG_LEVEL"), "info"), "log level: debug, info, warn, error")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// logger builds the logrus logger the flags ask for, writing to stderr.
func (c *common) logger() (logrus.FieldLogger, error) {
	if c.log != nil {
		return c.log, nil
	}
	l := logrus.New()
	l.SetOutput(c.env.Stderr)
	lvl, err := logrus.ParseLevel(c.logLevel)
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("-log-level: %v", err)}
	}
	l.SetLevel(lvl)
	switch c.logFormat {
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	case "text":
		l.SetFormatter(&logrus.TextFormatter{DisableColors: !isTerminal(c.env.Stderr), FullTimestamp: true})
	default:
		return nil, &usageError{msg: fmt.Sprintf("-log-format %q: want text or json", c.logFormat)}
	}
	c.log = l
	return l, nil
}

// loadDesired reads and validates the desired file. A file with problems
// gives an exit-1 error listing every problem.
func (c *common) loadDesired() (*state.Desired, error) {
	d, err := workspace.LoadDesired(c.desired)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	return d, nil
}

// packerRoot is the workspace next to the desired file.
func (c *common) packerRoot() string { return workspace.DefaultRoot(c.desired) }

// connect loads the Proxmox settings and returns a client.
func (c *common) connect() (*proxmox.Client, proxmox.Config, error) {
	envFile := c.envFile
	if envFile == "" {
		if _, err := os.Stat(".env"); err == nil {
			envFile = ".env"
		}
	}
	cfg, err := proxmox.LoadConfig(envFile, c.env.Getenv)
	if err != nil {
		return nil, proxmox.Config{}, err
	}
	log, err := c.logger()
	if err != nil {
		return nil, cfg, err
	}
	cl, err := proxmox.New(cfg, proxmox.Options{Log: log})
	if err != nil {
		return nil, cfg, err
	}
	return cl, cfg, nil
}

// runner returns the Packer runner.
func (c *common) runner() (*packer.Runner, error) {
	log, err := c.logger()
	if err != nil {
		return nil, err
	}
	return &packer.Runner{Packer: c.packerBin, Log: log, PIDDir: c.packerPIDDir(), KillGrace: c.killGrace}, nil
}

// packerPIDDir records the running Packer processes (see packer.ReapOrphans).
func (c *common) packerPIDDir() string { return filepath.Join(c.stateDir, "packer") }

// reapOrphans waits for the Packer processes a killed predecessor left
// cleaning up, so that their staging VMIDs are free before recovery and
// new builds use them.
func (c *common) reapOrphans(ctx context.Context) error {
	n, err := packer.ReapOrphans(ctx, c.packerPIDDir(), c.killGrace)
	if n > 0 {
		log, _ := c.logger()
		log.WithField("count", n).Warn("waited for Packer processes left by an interrupted templated")
	}
	return err
}

// inputs hashes every template's inputs: its desired entry, the Packer
// files it uses and the Packer version.
func (c *common) inputs(ctx context.Context, d *state.Desired, r *packer.Runner) (map[string]string, string, error) {
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pv, err := r.Version(vctx)
	if err != nil {
		return nil, "", fmt.Errorf("packer version (needed for the inputs hash; install Packer or set -packer): %w", err)
	}
	root := c.packerRoot()
	out := map[string]string{}
	for _, t := range d.Templates {
		h, err := workspace.InputsHash(d, t, root, pv)
		if err != nil {
			return nil, "", fmt.Errorf("inputs of %s: %w", t.Name, err)
		}
		out[t.Name] = strings.TrimPrefix(h, "sha256:")
	}
	return out, pv, nil
}

// holds reads the holds from the state directory without creating it.
func (c *common) holds() (map[string]state.Hold, error) {
	if _, err := os.Stat(c.stateDir); errors.Is(err, os.ErrNotExist) {
		return map[string]state.Hold{}, nil
	}
	j, err := journal.OpenJournal(c.stateDir)
	if err != nil {
		return nil, err
	}
	return j.Holds()
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// colour reports whether to colour output for w: a terminal, NO_COLOR unset.
func (c *common) colour(w io.Writer) bool {
	return isTerminal(w) && c.env.Getenv("NO_COLOR") == "" && !strings.EqualFold(c.env.Getenv("TERM"), "dumb")
}
