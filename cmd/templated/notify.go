package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"templated/internal/journal"
	"templated/internal/notify"
	"templated/internal/proxmox"
	"templated/internal/state"
)

// runNotify runs `templated notify test`, its one subcommand.
func runNotify(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) > 0 && args[0] == "test" {
		return notifyTest(ctx, env, args[1:])
	}
	fmt.Fprintln(env.Stdout, "usage: templated notify test [flags] [SINK]\n\nsends a test notification to every sink of the desired file, or to SINK, now, and reports each result")
	switch {
	case len(args) == 0:
		return &usageError{msg: "notify: missing subcommand test"}
	case args[0] == "-h" || args[0] == "--help":
		return nil
	}
	return &usageError{msg: fmt.Sprintf("notify: unknown subcommand %q", args[0])}
}

// notifyTest sends one test event to each sink of the desired file's
// notifications section (or to the one named), synchronously, and prints
// each result. It exits 1 when any sink failed.
func notifyTest(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("notify test", env.Stderr)
	c.register(fs, env)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: templated notify test [flags] [SINK]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &usageError{msg: fmt.Sprintf("notify test: unexpected argument %q", fs.Arg(1))}
	}
	if _, err := c.logger(); err != nil { // its redact hook, before any secret is read
		return err
	}
	d, err := c.loadDesired("")
	if err != nil {
		return err
	}
	n := d.Notifications
	if n == nil {
		return &exitError{code: 1, err: fmt.Errorf("%s has no notifications section (docs/notifications.md)", c.desired)}
	}
	if name := fs.Arg(0); name != "" {
		s, ok := n.Sink(name)
		if !ok {
			return &usageError{msg: fmt.Sprintf("notify test: %s declares no sink %q (sinks: %s)", c.desired, name, sinkList(n))}
		}
		only := *n
		only.Sinks = []state.NotifySink{s}
		n = &only
	}
	secrets, err := c.notifySecrets(n)
	if err != nil {
		return err
	}
	sinks, err := notify.NewSinks(n, secrets, notify.SinkOptions{UserAgent: "templated/" + version, Redact: &c.secrets})
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	installation, err := journal.InstallationID(c.stateDir)
	if err != nil {
		return err
	}
	e := notify.TestEvent(installation, time.Now())
	failed := 0
	for i, s := range sinks {
		if err := s.Send(ctx, e); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed++
			fmt.Fprintf(env.Stdout, "FAIL  %s (%s): %s\n", s.Name(), n.Sinks[i].Type, c.secrets.String(err.Error()))
			continue
		}
		fmt.Fprintf(env.Stdout, "ok    %s (%s): delivered event %s\n", s.Name(), n.Sinks[i].Type, e.ID)
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("notify test: %d of %d sinks failed", failed, len(sinks))}
	}
	return nil
}

// sinkList names the sinks of n for a message.
func sinkList(n *state.Notifications) string {
	names := make([]string, len(n.Sinks))
	for i, s := range n.Sinks {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// notifySecrets gathers the secrets n's sinks name: from the environment,
// then the env file (-env-file), then the systemd credentials
// ($CREDENTIALS_DIRECTORY). An env file that holds one of them must not
// be readable by group or others.
func (c *common) notifySecrets(n *state.Notifications) (notify.SecretMap, error) {
	var names []string
	for _, s := range n.Sinks {
		names = append(names, s.Secrets()...)
	}
	m := notify.SecretMap{Values: map[string]string{}, CredentialsDir: c.env.Getenv("CREDENTIALS_DIRECTORY")}
	var file map[string]string
	if c.envFile != "" && len(names) > 0 {
		var err error
		if file, _, err = proxmox.ReadEnvFile(c.envFile); err != nil {
			return m, err
		}
	}
	var fromFile []string
	for _, name := range names {
		if v := c.env.Getenv(name); v != "" {
			m.Values[name] = v
		} else if v := file[name]; v != "" {
			m.Values[name] = v
			fromFile = append(fromFile, name)
		}
	}
	if len(fromFile) > 0 {
		fi, err := os.Stat(c.envFile)
		if err != nil {
			return m, err
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			slices.Sort(fromFile)
			return m, fmt.Errorf("%s (mode %04o) holds the notification secrets %s but group or others can open it; run: chmod 600 %s",
				c.envFile, perm, strings.Join(slices.Compact(fromFile), " and "), c.envFile)
		}
	}
	return m, nil
}
