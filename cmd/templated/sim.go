package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

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
	var tokens, faults multiFlag
	fs.Var(&tokens, "token", "API token `ID=SECRET` to accept (repeatable; default: root@pam!templated with a random secret)")
	fs.Var(&faults, "fault", "inject a fault: [METHOD] [PATH] [vmid=N] [skip=N] [count=N] [status=N message=\"...\"] [task-exit=\"...\"] [task-hang] [latency=D] [drop], e.g. 'POST /nodes/*/qemu/*/clone status=500 message=\"x\" count=1' (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("sim: unexpected argument %q", fs.Arg(0))}
	}
	opts, err := simOptions(*seedFile, tokens, faults)
	if err != nil {
		return err
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
	printSimInfo(env, srv)
	if *envFile != "" {
		if err := writeEnvFile(*envFile, srv.DotEnv()); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "\nwrote %s\n", *envFile)
	}
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stop simulator: %w", err)
	}
	return nil
}

func simOptions(seedFile string, tokens, faults []string) (pvesim.Options, error) {
	var opts pvesim.Options
	if seedFile != "" {
		seed, err := pvesim.LoadSeed(seedFile)
		if err != nil {
			return opts, err
		}
		opts.Seed = seed
	}
	for _, spec := range faults {
		f, err := pvesim.ParseFault(spec)
		if err != nil {
			return opts, &usageError{msg: "sim: --fault: " + err.Error()}
		}
		if opts.Seed == nil {
			opts.Seed = pvesim.DefaultSeed()
		}
		opts.Seed.Faults = append(opts.Seed.Faults, f)
	}
	for _, t := range tokens {
		id, secret, ok := strings.Cut(t, "=")
		if !ok || id == "" || secret == "" {
			return opts, &usageError{msg: "sim: --token wants ID=SECRET (e.g. root@pam!templated=<uuid>)"}
		}
		if opts.Tokens == nil {
			opts.Tokens = map[string]string{}
		}
		opts.Tokens[id] = secret
	}
	return opts, nil
}

func printSimInfo(env *cmdEnv, srv *pvesim.Server) {
	w := env.Stdout
	fmt.Fprintln(w, "Proxmox VE simulator running (stop with Ctrl-C)")
	fmt.Fprintf(w, "  API URL:      %s\n", srv.URL())
	fmt.Fprintf(w, "  Token ID:     %s\n", srv.TokenID())
	fmt.Fprintf(w, "  Token secret: %s\n", srv.TokenSecret())
	if ca := srv.CAFile(); ca != "" {
		fmt.Fprintf(w, "  CA file:      %s\n", ca)
	}
	fmt.Fprintf(w, "  Node:         %s\n", srv.Node())
	fmt.Fprintln(w, "\n# .env for templated (paste into a file with mode 0600)")
	fmt.Fprint(w, srv.DotEnv())
	fmt.Fprintln(w, "\n# try it:")
	ca := "--cacert " + srv.CAFile()
	if srv.CAFile() == "" {
		ca = ""
	}
	fmt.Fprintf(w, "curl %s -H 'Authorization: %s' '%s/cluster/resources?type=vm'\n",
		strings.TrimSpace(ca), srv.AuthHeader(), srv.URL())
}

// writeEnvFile writes the .env block with mode 0600 (it holds the token secret).
func writeEnvFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write env file: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("write env file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	return nil
}
