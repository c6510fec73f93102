package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/mirror"
	"templated/internal/packer"
	"templated/internal/plan"
	"templated/internal/proxmox"
	"templated/internal/redact"
	"templated/internal/session"
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
	// secrets are kept out of every log line (the logger's redact.Hook)
	// once the connection settings are read.
	secrets redact.Secrets
}

func (c *common) register(fs *flag.FlagSet, env *cmdEnv) {
	c.env = env
	fs.StringVar(&c.desired, "f", cmp.Or(env.Getenv("TEMPLATED_DESIRED"), defaultDesired), "desired state `file`")
	fs.StringVar(&c.envFile, "env-file", env.Getenv("TEMPLATED_ENV_FILE"), "Proxmox connection settings (`.env` format; a .env in the working directory is read only when named here)")
	fs.StringVar(&c.stateDir, "state-dir", cmp.Or(env.Getenv("TEMPLATED_STATE_DIR"), defaultState), "journal, holds and lock `dir`")
	fs.StringVar(&c.evidence, "evidence-dir", cmp.Or(env.Getenv("TEMPLATED_EVIDENCE_DIR"), defaultEvidence), "evidence and ledger `dir`")
	fs.StringVar(&c.packerBin, "packer", cmp.Or(env.Getenv("TEMPLATED_PACKER"), "packer"), "Packer `binary` (PACKER_PLUGIN_PATH is passed through)")
	fs.DurationVar(&c.killGrace, "packer-kill-grace", packer.DefaultKillGrace, "how long Packer may clean up after SIGINT (a stop or a build timeout) before it is killed")
	fs.StringVar(&c.logFormat, "log-format", cmp.Or(env.Getenv("TEMPLATED_LOG_FORMAT"), "text"), "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", cmp.Or(env.Getenv("TEMPLATED_LOG_LEVEL"), "info"), "log level: debug, info, warn, error")
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
	l.AddHook(redact.Hook{Secrets: &c.secrets})
	c.log = l
	return l, nil
}

// loadDesired reads and validates the desired file, narrowed to the
// template only when it is set. A file with problems gives an exit-1
// error listing every problem.
func (c *common) loadDesired(only string) (*state.Desired, error) {
	d, err := workspace.LoadDesired(c.desired)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	if only != "" {
		t, ok := d.Template(only)
		if !ok {
			return nil, &usageError{msg: fmt.Sprintf("-only %s: no such template in %s", only, c.desired)}
		}
		d.Templates = []state.Template{t}
	}
	return d, nil
}

// connection loads the Proxmox settings from the environment and the env
// file named by -env-file or $TEMPLATED_ENV_FILE. A .env in the working
// directory is read only when named: a file someone left there must not
// redirect templated to another cluster or turn TLS checks off.
func (c *common) connection() (proxmox.Config, error) {
	return proxmox.LoadConfig(c.envFile, c.env.Getenv)
}

// imageMirrors reads TEMPLATED_IMAGE_MIRRORS from the environment, or else
// from the env file (where `templated sim --mirror` writes it); an error
// names the file and line it came from. Unset gives no mirrors.
func (c *common) imageMirrors() ([]mirror.Mapping, error) {
	v, where := c.env.Getenv(session.EnvImageMirrors), session.EnvImageMirrors
	if v == "" && c.envFile != "" {
		file, lines, err := proxmox.ReadEnvFile(c.envFile)
		if err != nil {
			return nil, err
		}
		v, where = file[session.EnvImageMirrors], fmt.Sprintf("%s:%d: %s", c.envFile, lines[session.EnvImageMirrors], session.EnvImageMirrors)
	}
	ms, err := mirror.ParseMirrors(v)
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("%s: %v", where, err)}
	}
	if ms == nil {
		ms = []mirror.Mapping{}
	}
	return ms, nil
}

// envImageInterval names how long a vendor's checksum file is used before
// its server is asked again (a Go duration; 0 asks on every run).
const envImageInterval = "TEMPLATED_IMAGE_INTERVAL"

// imageInterval reads TEMPLATED_IMAGE_INTERVAL (unset: the session's
// default, an hour).
func (c *common) imageInterval() (time.Duration, error) {
	v := c.env.Getenv(envImageInterval)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, &usageError{msg: fmt.Sprintf("%s=%q: want a duration such as 1h (0 asks the vendors on every run)", envImageInterval, v)}
	}
	if d == 0 {
		return -1, nil // the fetcher's "revalidate every time"
	}
	return d, nil
}

// settings turns the flags into a session's settings.
func (c *common) settings() (session.Settings, error) {
	log, err := c.logger()
	if err != nil {
		return session.Settings{}, err
	}
	conn, err := c.connection()
	if err != nil {
		return session.Settings{}, err
	}
	if err := c.secrets.Add("PROXMOX_TOKEN_SECRET", conn.TokenSecret.Reveal()); err != nil {
		return session.Settings{}, err
	}
	mirrors, err := c.imageMirrors()
	if err != nil {
		return session.Settings{}, err
	}
	interval, err := c.imageInterval()
	if err != nil {
		return session.Settings{}, err
	}
	return session.Settings{DesiredPath: c.desired, StateDir: c.stateDir, EvidenceDir: c.evidence,
		Conn: conn, PackerBinary: c.packerBin, KillGrace: c.killGrace, Version: version,
		ImageMirrors: mirrors, ImageInterval: interval, Getenv: c.env.Getenv, Log: log}, nil
}

// plan loads the desired state (narrowed to only, when set), observes
// the cluster and plans, touching nothing.
func (c *common) plan(ctx context.Context, only string) (plan.Plan, *state.Desired, error) {
	d, err := c.loadDesired(only)
	if err != nil {
		return plan.Plan{}, nil, err
	}
	set, err := c.settings()
	if err != nil {
		return plan.Plan{}, nil, err
	}
	sess, err := session.OpenReader(set)
	if err != nil {
		return plan.Plan{}, nil, err
	}
	p, err := sess.Plan(ctx, d)
	return p, d, err
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
