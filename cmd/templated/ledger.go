package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"templated/internal/ledger"
)

func init() {
	register("ledger", "init, verify, show, repair and prove the evidence ledger", runLedger)
}

var ledgerSubcommands = []struct{ name, summary string }{
	{"init", "create the signing key (outside the evidence tree) and the ledger directory"},
	{"verify", "check entries, checkpoints, evidence and signatures offline"},
	{"show", "print a template's history (all templates without an argument)"},
	{"repair", "fix crash damage (torn last line, unsealed entry) and record it"},
	{"proof", "print an inclusion proof (C2SP tlog-proof) for entry SEQ"},
	{"check-proof", "check an inclusion proof offline with the public key"},
	{"prune", "remove build evidence older than the retention (recorded as an entry)"},
}

func runLedger(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stdout, "usage: templated ledger <subcommand> [flags]\n\nsubcommands:")
		for _, s := range ledgerSubcommands {
			fmt.Fprintf(env.Stdout, "  %-12s %s\n", s.name, s.summary)
		}
		if len(args) == 0 {
			return &usageError{msg: "ledger: missing subcommand"}
		}
		return nil
	}
	sub := map[string]func(context.Context, *cmdEnv, []string) error{
		"init": ledgerInit, "verify": ledgerVerify, "show": ledgerShow, "repair": ledgerRepair,
		"proof": ledgerProof, "check-proof": ledgerCheckProof, "prune": ledgerPrune,
	}[args[0]]
	if sub == nil {
		return &usageError{msg: fmt.Sprintf("ledger: unknown subcommand %q", args[0])}
	}
	return sub(ctx, env, args[1:])
}

// dirFlag is the evidence root: -dir, or -evidence-dir as the other
// commands call it; $TEMPLATED_EVIDENCE_DIR sets the default.
func dirFlag(fs *flag.FlagSet, env *cmdEnv) *string {
	dir := fs.String("dir", orDefault(env.Getenv("TEMPLATED_EVIDENCE_DIR"), ledger.DefaultDir), "evidence root holding ledger/")
	fs.StringVar(dir, "evidence-dir", *dir, "same as -dir")
	return dir
}

func keyFlag(fs *flag.FlagSet, env *cmdEnv) *string {
	return fs.String("key", ledger.DefaultKeyPath(env.Getenv), "private signing key (kept outside the evidence tree)")
}

func ledgerInit(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger init", env.Stderr)
	dir, key := dirFlag(fs, env), keyFlag(fs, env)
	host, _ := os.Hostname()
	name := fs.String("name", "templated/"+host+"/packer-ledger", "ledger (key) name, the checkpoints' origin")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	vkey, err := ledger.CreateKey(*dir, *key, *name)
	if errors.Is(err, ledger.ErrKeyInsideTree) {
		return &usageError{msg: "ledger init: " + err.Error()}
	}
	if err != nil {
		return fmt.Errorf("ledger init: %w", err)
	}
	fmt.Fprintf(env.Stdout, "signing key: %s (mode 0600; back it up, never commit it)\nverifier key (also in %s):\n%s\n",
		*key, filepath.Join(*dir, "ledger", "ledger.vkey"), vkey)
	return nil
}

// readPubkeys reads verifier key files.
func readPubkeys(files []string) ([]string, error) {
	var keys []string
	for _, f := range files {
		k, err := ledger.ReadVerifierKey(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ledgerVerify exits 0 intact, 1 tampering, 2 crash damage repair fixes,
// 3 could not verify (usage, unreadable files, no key).
func ledgerVerify(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger verify", env.Stderr)
	dir := dirFlag(fs, env)
	var pubkeys, trusted multiFlag
	fs.Var(&pubkeys, "pubkey", "trusted verifier key file (repeatable; default: the ledger's own hint, with a warning)")
	fs.Var(&trusted, "trusted-checkpoint", "checkpoint kept off the host that the ledger must extend (repeatable)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noEvidence := fs.Bool("no-evidence", false, "skip evidence files and DSSE envelopes")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errFlagHelp) {
			return err
		}
		return &exitError{code: 3, err: err}
	}
	opts := ledger.VerifyOptions{Dir: *dir, SkipEvidence: *noEvidence}
	var err error
	if opts.VerifierKeys, err = readPubkeys(pubkeys); err != nil {
		return &exitError{code: 3, err: err}
	}
	for _, f := range trusted {
		b, err := os.ReadFile(f)
		if err != nil {
			return &exitError{code: 3, err: fmt.Errorf("trusted checkpoint: %w", err)}
		}
		opts.TrustedCheckpoints = append(opts.TrustedCheckpoints, ledger.TrustedCheckpoint{Name: f, Note: b})
	}
	r, err := ledger.Verify(ctx, opts)
	if err != nil {
		return &exitError{code: 3, err: fmt.Errorf("ledger verify: %w", err)}
	}
	if *asJSON {
		err = r.WriteJSON(env.Stdout)
	} else {
		err = r.WriteText(env.Stdout)
	}
	if err != nil {
		return err
	}
	if code := r.ExitCode(); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func ledgerShow(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger show", env.Stderr)
	dir := dirFlag(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return &usageError{msg: "ledger show: at most one TEMPLATE"}
	}
	entries, err := ledger.History(*dir, fs.Arg(0))
	if err := writeHistory(env.Stdout, entries); err != nil {
		return err
	}
	if err != nil {
		return fmt.Errorf("ledger show: %w (run templated ledger verify)", err)
	}
	if len(entries) == 0 {
		fmt.Fprintln(env.Stdout, "no entries")
	}
	return nil
}

// writeHistory prints one line per entry, with evidence folders below builds.
func writeHistory(w io.Writer, entries []ledger.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tTEMPLATE\tRESULT\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.TS, e.Kind, orDash(e.Template), orDash(e.Result), describe(e))
	}
	return tw.Flush()
}

// describe summarises what an entry says beyond its kind.
func describe(e ledger.Entry) string {
	var parts []string
	if e.BuildID != "" {
		parts = append(parts, "build "+e.BuildID)
	}
	if e.Step != "" {
		parts = append(parts, "step "+e.Step)
	}
	if e.Reason != nil {
		parts = append(parts, strings.TrimSpace("reason "+e.Reason.Code+" "+e.Reason.Detail))
	}
	for _, a := range e.Plan {
		parts = append(parts, a.Template+": "+a.Action)
	}
	if e.Git != nil {
		c := e.Git.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if e.Git.Dirty {
			c += " (dirty)"
		}
		parts = append(parts, "commit "+c)
	}
	if e.CI != nil && e.CI.URL != "" {
		parts = append(parts, "ci "+e.CI.URL)
	}
	if e.Versions != nil && e.Versions.Packer != "" {
		parts = append(parts, "packer "+e.Versions.Packer)
	}
	if p := e.Proxmox; p != nil && p.ReservedVMID != 0 {
		parts = append(parts, fmt.Sprintf("node %s vmid %d staging %d", p.Node, p.ReservedVMID, p.StagingVMID))
	}
	if e.DurationMS > 0 {
		parts = append(parts, fmt.Sprintf("%.1fs", float64(e.DurationMS)/1000))
	}
	if len(e.Evidence) > 0 {
		parts = append(parts, fmt.Sprintf("%d evidence files", len(e.Evidence)))
	}
	if e.Prune != nil {
		parts = append(parts, fmt.Sprintf("pruned %d builds (retention %s)", len(e.Prune.Removed), e.Prune.Retention))
	}
	if r := e.Repair; r != nil {
		parts = append(parts, fmt.Sprintf("sealed %v, quarantined %d", r.Sealed, len(r.Quarantined)))
	}
	if e.Error != "" {
		parts = append(parts, "error: "+e.Error)
	}
	return strings.Join(parts, "; ")
}

func ledgerRepair(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger repair", env.Stderr)
	dir, key := dirFlag(fs, env), keyFlag(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rep, err := ledger.Repair(ctx, ledger.Options{Dir: *dir, KeyFile: *key})
	var te *ledger.TamperError
	if errors.As(err, &te) {
		_ = te.Report.WriteText(env.Stdout)
		return &exitError{code: 1, err: errors.New("ledger repair: the ledger shows tampering; nothing was changed")}
	}
	if err != nil {
		return fmt.Errorf("ledger repair: %w", err)
	}
	if rep == nil {
		fmt.Fprintln(env.Stdout, "nothing to repair")
		return nil
	}
	fmt.Fprintf(env.Stdout, "repaired and recorded in a ledger.repair entry:\n  sealed entries: %v\n", rep.Sealed)
	for _, q := range rep.Quarantined {
		fmt.Fprintf(env.Stdout, "  quarantined %d bytes from offset %d to %s (sha256 %s)\n", q.Length, q.Offset, q.File, q.SHA256)
	}
	if rep.Checkpoint != "" {
		fmt.Fprintf(env.Stdout, "  %s\n", rep.Checkpoint)
	}
	for _, t := range rep.RemovedTmp {
		fmt.Fprintf(env.Stdout, "  removed temporary file %s\n", t)
	}
	return nil
}

func ledgerProof(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger proof", env.Stderr)
	dir := dirFlag(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "ledger proof: want exactly one SEQ"}
	}
	seq, err := strconv.ParseUint(fs.Arg(0), 10, 63)
	if err != nil {
		return &usageError{msg: fmt.Sprintf("ledger proof: SEQ %q: %v", fs.Arg(0), err)}
	}
	p, err := ledger.Prove(*dir, seq)
	if err != nil {
		return fmt.Errorf("ledger proof: %w", err)
	}
	_, err = env.Stdout.Write(p)
	return err
}

func ledgerCheckProof(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger check-proof", env.Stderr)
	var pubkeys multiFlag
	fs.Var(&pubkeys, "pubkey", "trusted verifier key file (required, repeatable)")
	entryFile := fs.String("entry", "", "file holding the entry line (default: the proof's extra field)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || len(pubkeys) == 0 {
		return &usageError{msg: "ledger check-proof: want --pubkey FILE and one PROOF file"}
	}
	keys, err := readPubkeys(pubkeys)
	if err != nil {
		return err
	}
	proof, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var entry []byte
	if *entryFile != "" {
		if entry, err = os.ReadFile(*entryFile); err != nil {
			return err
		}
	}
	res, err := ledger.CheckProof(proof, keys, entry)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("ledger check-proof: %w", err)}
	}
	fmt.Fprintf(env.Stdout, "OK: entry %d is in %s's checkpoint of size %d\n%s\n", res.Index, res.Checkpoint.Origin, res.Checkpoint.Size, res.Line)
	return nil
}
