package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"templated/internal/ledger"
)

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
	if opts.VerifierKeys, err = ledger.ReadVerifierKeys(pubkeys); err != nil {
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
	if err := ledger.WriteHistory(env.Stdout, entries); err != nil {
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
	return rep.WriteText(env.Stdout)
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
	keys, err := ledger.ReadVerifierKeys(pubkeys)
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
