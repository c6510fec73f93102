package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"templated/internal/plan"
	"templated/internal/session"
	"templated/internal/state"
)

func runStatus(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("status", env.Stderr)
	c.register(fs, env)
	listen := fs.String("listen", cmp.Or(env.Getenv("TEMPLATED_LISTEN"), "127.0.0.1:9750"), "`address` of the running daemon's listener")
	direct := fs.Bool("direct", false, "ask Proxmox directly instead of the running daemon")
	asJSON := fs.Bool("json", false, "print JSON (the daemon's /status document with source, listen and note)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("status: unexpected argument %q", fs.Arg(0))}
	}
	rep, err := session.Status(ctx, session.StatusQuery{Listen: *listen, Direct: *direct, StateDir: c.stateDir,
		EvidenceDir: c.evidence, Plan: func(ctx context.Context) (plan.Plan, *state.Desired, error) { return c.plan(ctx, "") }})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	now := rep.Now // the daemon's clock, for ages that agree with its own
	if now.IsZero() {
		now = time.Now()
	}
	return writeStatus(env.Stdout, rep, now)
}

// writeStatus prints the report as a table for people.
func writeStatus(w io.Writer, rep session.StatusReport, now time.Time) error {
	switch rep.Source {
	case session.SourceDaemon:
		fmt.Fprintf(w, "daemon on %s: %s\n", rep.Listen, rep.Message)
		if r := rep.Desired.Rejected; r != nil {
			first, _, _ := strings.Cut(r.Error, "\n")
			fmt.Fprintf(w, "desired file rejected: %s\n", first)
		}
		if g := rep.Git; g != nil {
			g.WriteText(w, now)
		}
	default:
		fmt.Fprintf(w, "from Proxmox: %s\n", rep.Note)
	}
	return rep.WriteTable(w, now)
}
