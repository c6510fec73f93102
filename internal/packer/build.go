package packer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Build is one `packer build` of an assembled build directory.
type Build struct {
	// Name prefixes every streamed output line ("tpl-ubuntu-22.04: ...")
	// and names the build in errors and logs.
	Name string
	// Dir is the build directory: Packer runs there on ".".
	Dir string
	// VarFiles are passed as -var-file; relative paths are relative to Dir.
	VarFiles []string
	// Vars are non-secret -var k=v, passed sorted by key.
	Vars map[string]string
	// Env holds secrets and PKR_VAR_*/PROXMOX_* settings. Values never go
	// on the command line; values of secret-looking keys (see isSecretKey)
	// are redacted from output, Tail and errors.
	Env map[string]string
	// Only is passed as -only=a,b.
	Only []string
	// LogPath, when set, turns on PACKER_LOG into this file (relative to
	// Dir; its directory is created).
	LogPath string
	// Manifest, when set, is the file Packer's manifest post-processor
	// writes (relative to Dir; its directory is created). If this run
	// recorded itself in it, Result.RunUUID comes from it.
	Manifest string
	// Timeout bounds the build (0: none). It expires like a cancel: SIGINT,
	// then SIGKILL after the Runner's KillGrace.
	Timeout time.Duration
	// Output receives readable output line by line, each line "Name: text\n"
	// in one Write call, so one writer may be shared by parallel builds if
	// its Write is safe for concurrent use. Nil discards.
	Output io.Writer
}

// Result is what a build produced. Build returns it filled in as far as the
// run got, with or without an error.
type Result struct {
	ExitCode   int           // Packer's exit code (128+signal when signaled, -1 when not started)
	Duration   time.Duration // wall time of the Packer process
	ArtifactID string        // from the machine-readable "artifact,0,id" line ("9000" for proxmox)
	RunUUID    string        // packer_run_uuid of this run, from Build.Manifest when it was written
	Tail       string        // last 64 KiB of readable output, redacted, starting at a whole line
}

var errTimeout = errors.New("build timeout")

// Build runs `packer build -machine-readable -color=false` on b.Dir. A
// non-zero exit, a timeout or a cancel returns a *BuildError; a build that
// exits 0 succeeds even if ctx ended meanwhile. Build returns once Packer and
// its process group are gone: at most about KillGrace after ctx ends.
func (r *Runner) Build(ctx context.Context, b Build) (Result, error) {
	res := Result{ExitCode: -1}
	args, err := buildArgs(b)
	if err != nil {
		return res, fmt.Errorf("packer build %s: %w", b.Name, err)
	}
	fixed, err := prepareFiles(b)
	if err != nil {
		return res, fmt.Errorf("packer build %s: %w", b.Name, err)
	}
	manifest := manifestWatch(inDir(b.Dir, b.Manifest), b.Manifest != "")

	runCtx := ctx
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, b.Timeout, errTimeout)
		defer cancel()
	}
	col := newCollector(b.Name, b.Output, b.Env)
	log := r.log().WithField("template", b.Name).WithField("dir", b.Dir)
	log.WithField("args", strings.Join(args, " ")).Info("packer build started")

	start := time.Now()
	ex, err := r.run(runCtx, invocation{args: args, dir: b.Dir, env: r.env(b.Env, fixed...), onLine: col.line})
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("packer build %s: start %s: %w", b.Name, r.packer(), err)
	}
	res.ExitCode, res.ArtifactID, res.Tail = ex.code, col.artifactID, string(col.tail.Bytes())
	if m, ok := manifest.changed(); ok {
		res.RunUUID = m.PackerRunUUID
		if res.ArtifactID == "" {
			res.ArtifactID = m.ArtifactID
		}
	}
	log = log.WithField("exit_code", res.ExitCode).WithField("duration", res.Duration.Round(time.Millisecond))
	if ex.code == 0 {
		log.WithField("artifact", res.ArtifactID).Info("packer build finished")
		return res, nil
	}
	be := &BuildError{Name: b.Name, ExitCode: ex.code, Tail: res.Tail, Errors: col.errors, Killed: ex.killed, Err: ex.err}
	switch {
	case ctx.Err() != nil:
		be.Canceled, be.Err = true, context.Cause(ctx)
	case errors.Is(context.Cause(runCtx), errTimeout):
		be.TimedOut, be.Timeout, be.Err = true, b.Timeout, context.DeadlineExceeded
	}
	// The caller reports the error; this only records the run.
	log.WithField("timed_out", be.TimedOut).WithField("canceled", be.Canceled).Debug("packer build failed")
	return res, be
}

// prepareFiles creates the directories of the log and manifest files and
// returns the environment settings every build gets.
func prepareFiles(b Build) ([]string, error) {
	fixed := []string{"CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1"}
	if b.LogPath != "" {
		logPath := inDir(b.Dir, b.LogPath)
		if err := os.MkdirAll(filepath.Dir(logPath), 0o750); err != nil {
			return nil, fmt.Errorf("log directory: %w", err)
		}
		fixed = append(fixed, "PACKER_LOG=1", "PACKER_LOG_PATH="+logPath)
	}
	if b.Manifest != "" {
		// Packer's manifest post-processor does not create directories.
		if err := os.MkdirAll(filepath.Dir(inDir(b.Dir, b.Manifest)), 0o750); err != nil {
			return nil, fmt.Errorf("manifest directory: %w", err)
		}
	}
	return fixed, nil
}

// buildArgs makes the argument list and checks that no value of b.Env is
// in it.
func buildArgs(b Build) ([]string, error) {
	if b.Name == "" || b.Dir == "" {
		return nil, errors.New("build needs a name and a directory")
	}
	args := []string{"build", "-machine-readable", "-color=false"}
	if len(b.Only) > 0 {
		args = append(args, "-only="+strings.Join(b.Only, ","))
	}
	for _, f := range b.VarFiles {
		args = append(args, "-var-file="+f)
	}
	for _, k := range slices.Sorted(maps.Keys(b.Vars)) {
		if k == "" || strings.ContainsAny(k, "= ") {
			return nil, fmt.Errorf("invalid variable name %q", k)
		}
		args = append(args, "-var", k+"="+b.Vars[k])
	}
	args = append(args, ".")
	for _, k := range slices.Sorted(maps.Keys(b.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("invalid environment variable name %q", k)
		}
		v := b.Env[k]
		if len(v) < 8 {
			continue
		}
		for _, a := range args {
			if strings.Contains(a, v) {
				// Name the variable, never the value.
				return nil, fmt.Errorf("the value of environment variable %s appears in the arguments", k)
			}
		}
	}
	return args, nil
}

func inDir(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
