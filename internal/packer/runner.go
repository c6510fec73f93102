package packer

import (
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// DefaultKillGrace is how long Packer gets to clean up after SIGINT before
// its process group is killed, when Runner.KillGrace is zero.
const DefaultKillGrace = 30 * time.Second

// tailSize bounds the output kept in memory for Result.Tail and errors.
const tailSize = 64 << 10

// baseEnvAllow is the part of templated's own environment passed to Packer
// when Runner.Env is nil.
var baseEnvAllow = []string{
	"PATH", "HOME", "TMPDIR", "PACKER_PLUGIN_PATH", "PACKER_CACHE_DIR",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "CHECKPOINT_DISABLE",
}

// Runner runs the Packer binary. The zero value runs "packer" from PATH with
// the default grace period and no logging; a Runner is safe for concurrent
// use by several builds.
type Runner struct {
	// Packer is the binary: a path, or a name looked up on PATH ("packer"
	// when empty).
	Packer string
	// KillGrace is how long Packer may take to clean up after SIGINT
	// before its process group gets SIGKILL (DefaultKillGrace when 0).
	KillGrace time.Duration
	// Log receives one entry per run (nil: discard). Output goes to
	// Build.Output, not here.
	Log logrus.FieldLogger
	// Env is the base environment for Packer ("KEY=value"). When nil, the
	// variables in baseEnvAllow are copied from templated's environment;
	// nothing else leaks through.
	Env []string
	// PIDDir, when set, records each running Packer (dir/<pid>.pid), so
	// that a templated started after this one died can wait for its
	// orphans with ReapOrphans before it reuses their staging VMIDs.
	PIDDir string

	// drainTimeout bounds the wait for the output pipes to close after the
	// process group is gone (a process that left the group may hold them);
	// 5s when 0.
	drainTimeout time.Duration
}

func (r *Runner) packer() string {
	if r.Packer == "" {
		return "packer"
	}
	return r.Packer
}

func (r *Runner) killGrace() time.Duration {
	if r.KillGrace <= 0 {
		return DefaultKillGrace
	}
	return r.KillGrace
}

func (r *Runner) drain() time.Duration {
	if r.drainTimeout <= 0 {
		return 5 * time.Second
	}
	return r.drainTimeout
}

var discardLog = func() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}()

func (r *Runner) log() logrus.FieldLogger {
	if r.Log == nil {
		return discardLog
	}
	return r.Log
}

// env returns the environment for one Packer run: the base environment,
// then extra (sorted by key), then the fixed settings, later entries
// replacing earlier ones with the same key.
func (r *Runner) env(extra map[string]string, fixed ...string) []string {
	var base []string
	if r.Env != nil {
		base = r.Env
	} else {
		for _, k := range baseEnvAllow {
			if v, ok := os.LookupEnv(k); ok {
				base = append(base, k+"="+v)
			}
		}
	}
	all := slices.Clone(base)
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		all = append(all, k+"="+extra[k])
	}
	all = append(all, fixed...)
	return dedupEnv(all)
}

// dedupEnv keeps the last value of each key, in the order keys first
// appeared.
func dedupEnv(env []string) []string {
	idx := make(map[string]int, len(env))
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}
