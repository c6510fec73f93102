package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"

	"templated/internal/atomicfile"
	"templated/internal/mirror"
	"templated/internal/pvesim"
)

// runSim starts the simulator, prints how to reach it and serves until ctx
// is cancelled.
func runSim(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("sim", env.Stderr)
	listen := fs.String("listen", "127.0.0.1:8006", "loopback address to listen on (port 0 picks a free one)")
	seedFile := fs.String("seed", "", "seed YAML describing the starting cluster (default: built-in seed)")
	stateFile := fs.String("state", "", "persist the cluster state in this file across restarts")
	noTLS := fs.Bool("no-tls", false, "serve plain HTTP instead of HTTPS")
	caFile := fs.String("ca-file", "", "write the CA certificate here (default: a temporary file)")
	envFile := fs.String("env-file", "", "also write the .env block to this file (mode 0600)")
	taskDuration := fs.Duration("task-duration", pvesim.DefaultTaskDuration, "how long simulated tasks run (0: end right after the first poll)")
	authDelay := fs.Duration("auth-fail-delay", 0, "delay 401 answers like PVE (3s)")
	verbose := fs.Bool("v", false, "log every request to stderr")
	withMirror := fs.Bool("mirror", false, "also serve the vendors' image and checksum-file URLs of the default desired file from a loopback mirror; its TEMPLATED_IMAGE_MIRRORS value is printed and written to --env-file")
	pinDesired := fs.String("mirror-desired", "", "with --mirror, rewrite the pinned image checksums of this desired `file` (in place; use a copy) to the mirror's bytes")
	tokenFile := fs.String("token-file", "", "API tokens to accept, one `ID=SECRET` a line (also $TEMPLATED_SIM_TOKENS; default: root@pam!templated with a random secret)")
	var faults multiFlag
	fs.Var(&faults, "fault", "inject a fault: [METHOD] [PATH] [vmid=N] [skip=N] [count=N] [status=N message=\"...\"] [task-exit=\"...\"] [task-hang] [latency=D] [drop], e.g. 'POST /nodes/*/qemu/*/clone status=500 message=\"x\" count=1' (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("sim: unexpected argument %q", fs.Arg(0))}
	}
	tokens := env.Getenv("TEMPLATED_SIM_TOKENS")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return &usageError{msg: fmt.Sprintf("sim: --token-file: %v", err)}
		}
		tokens = string(b)
	}
	opts, err := pvesim.OptionsFrom(*seedFile, faults, tokens)
	if err != nil {
		return &usageError{msg: "sim: " + err.Error()}
	}
	log := logrus.New()
	log.SetOutput(env.Stderr)
	if *verbose {
		log.SetLevel(logrus.DebugLevel)
	}
	opts.Listen, opts.StatePath, opts.NoTLS, opts.CAFile = *listen, *stateFile, *noTLS, *caFile
	opts.TaskDuration, opts.AuthFailDelay, opts.Logger = *taskDuration, *authDelay, log
	if opts.TaskDuration == 0 {
		opts.TaskDuration = -1
	}
	srv, err := pvesim.Start(opts)
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer srv.Close()
	srv.WriteInfo(env.Stdout)
	dotEnv := srv.DotEnv()
	if *withMirror {
		m, err := startMirror(*pinDesired, log)
		if err != nil {
			return err
		}
		defer m.Close()
		fmt.Fprintf(env.Stdout, "\nimage mirror: %s\nTEMPLATED_IMAGE_MIRRORS=%s\n", m.URL(), m.Mirrors())
		dotEnv += "\n# The vendors' image URLs, served from loopback by `templated sim --mirror`.\nTEMPLATED_IMAGE_MIRRORS=" + m.Mirrors() + "\n"
	} else if *pinDesired != "" {
		return &usageError{msg: "sim: --mirror-desired needs --mirror"}
	}
	if *envFile != "" {
		if err := atomicfile.WriteFile(*envFile, []byte(dotEnv), 0o600); err != nil {
			return fmt.Errorf("write env file: %w", err)
		}
		fmt.Fprintf(env.Stdout, "\nwrote %s\n", *envFile)
	}
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stop simulator: %w", err)
	}
	return nil
}

// startMirror starts the loopback image mirror and, when desired is set,
// pins that desired file's fixed checksums to the mirror's bytes.
func startMirror(desired string, log logrus.FieldLogger) (*mirror.Server, error) {
	m, err := mirror.Start(mirror.Options{Log: log})
	if err != nil {
		return nil, fmt.Errorf("start image mirror: %w", err)
	}
	if desired == "" {
		return m, nil
	}
	b, err := os.ReadFile(desired)
	if err == nil {
		err = atomicfile.WriteFile(desired, mirror.PinDesired(b, m.PinnedChecksums()), 0o644)
	}
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("pin %s to the mirror: %w", desired, err)
	}
	return m, nil
}
