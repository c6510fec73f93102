package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"templated/internal/daemon"
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
			writeGitStatus(w, g, now)
		}
	default:
		fmt.Fprintf(w, "from Proxmox: %s\n", rep.Note)
	}
	return rep.WriteTable(w, now)
}

// writeGitStatus prints the followed remote: the revision in force, who
// signed it, the last fetch, and a refused head.
func writeGitStatus(w io.Writer, g *daemon.GitStatus, now time.Time) {
	rev := "no revision accepted yet"
	if g.Revision != "" {
		rev = "revision " + shortCommit(g.Revision)
		if g.Signer != "" {
			rev += " signed by " + g.Signer
		}
		rev += ", fetched " + ago(g.FetchedAt, now)
	}
	fmt.Fprintf(w, "git %s (%s): %s\n", g.URL, g.Ref, rev)
	switch {
	case g.LastFetch.IsZero():
		fmt.Fprintln(w, "last fetch: none yet")
	case g.LastFetchOK:
		fmt.Fprintf(w, "last fetch: ok %s\n", ago(g.LastFetch, now))
	default:
		first, _, _ := strings.Cut(g.LastError, "\n")
		fmt.Fprintf(w, "last fetch: FAILED %s (%d in a row): %s\n", ago(g.LastFetch, now), g.ConsecutiveFailures, first)
	}
	if r := g.Refused; r != nil {
		first, _, _ := strings.Cut(r.Detail, "\n")
		fmt.Fprintf(w, "refused %s (%s): %s\n", shortCommit(r.Commit), r.Code, first)
	}
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// ago is "3m ago" (or "at an unknown time").
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}
