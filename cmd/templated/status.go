package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"templated/internal/daemon"
	"templated/internal/session"
)

// Sources of a status report.
const (
	sourceDaemon  = "daemon"
	sourceProxmox = "proxmox"
)

// statusReport is what `templated status --json` prints: the daemon's
// /status document, and where it came from. From Proxmox (--direct, or no
// daemon answered) only the desired file and the templates are filled.
type statusReport struct {
	// Source is daemon or proxmox.
	Source string `json:"source"`
	// Listen is the daemon address that was asked ("" with --direct).
	Listen string `json:"listen,omitempty"`
	// Note says why the report comes straight from Proxmox.
	Note string `json:"note,omitempty"`
	daemon.Status
}

func runStatus(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("status", env.Stderr)
	c.register(fs, env)
	listen := fs.String("listen", orDefault(env.Getenv("TEMPLATED_LISTEN"), "127.0.0.1:9750"), "`address` of the running daemon's listener")
	direct := fs.Bool("direct", false, "ask Proxmox directly instead of the running daemon")
	asJSON := fs.Bool("json", false, "print JSON (the daemon's /status document with source, listen and note)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("status: unexpected argument %q", fs.Arg(0))}
	}
	rep, err := c.status(ctx, *listen, *direct)
	if err != nil {
		return err
	}
	session.FillFromLedger(&rep.Status, c.evidence)
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

// status asks the daemon on listen, or Proxmox when direct is set or no
// daemon answers.
func (c *common) status(ctx context.Context, listen string, direct bool) (statusReport, error) {
	note := "--direct"
	if !direct && listen != "" {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := daemon.FetchStatus(fctx, listen)
		cancel()
		if err == nil {
			return statusReport{Source: sourceDaemon, Listen: listen, Status: st}, nil
		}
		note = fmt.Sprintf("no daemon answered on %s (%v)", listen, err)
	}
	p, d, err := c.plan(ctx, "")
	if err != nil {
		return statusReport{}, err
	}
	susp, err := daemon.Suspensions(c.stateDir)
	if err != nil {
		note += fmt.Sprintf("; suspensions unreadable: %v", err)
	}
	rep := statusReport{Source: sourceProxmox, Note: note, Status: session.DirectStatus(d, p, susp, time.Now())}
	if !direct {
		rep.Listen = listen
	}
	return rep, nil
}

// writeStatus prints the report as a table for people.
func writeStatus(w io.Writer, rep statusReport, now time.Time) error {
	switch rep.Source {
	case sourceDaemon:
		fmt.Fprintf(w, "daemon on %s: %s\n", rep.Listen, rep.Message)
		if r := rep.Desired.Rejected; r != nil {
			first, _, _ := strings.Cut(r.Error, "\n")
			fmt.Fprintf(w, "desired file rejected: %s\n", first)
		}
	default:
		fmt.Fprintf(w, "from Proxmox: %s\n", rep.Note)
	}
	return rep.WriteTable(w, now)
}
