package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"templated/internal/ledger"
	"templated/internal/state"
)

// ledgerCommands are the subcommands of `templated ledger`.
var ledgerCommands = []command{
	{"init", "create the signing key (outside the evidence tree) and the ledger directory", ledgerInit},
	{"verify", "check entries, checkpoints, evidence and signatures offline (--witnesses N: and N witness cosignatures)", ledgerVerify},
	{"witness", "add, list or remove the witnesses that cosign checkpoints (C2SP tlog-witness)", ledgerWitness},
	{"show", "print a template's history (all templates without an argument)", ledgerShow},
	{"repair", "fix crash damage (torn last line, unsealed entry) and record it", ledgerRepair},
	{"proof", "print an inclusion proof (C2SP tlog-proof) for entry SEQ", ledgerProof},
	{"check-proof", "check an inclusion proof offline with the public key", ledgerCheckProof},
	{"prune", "remove build evidence older than the retention (recorded as an entry)", ledgerPrune},
}

func runLedger(ctx context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.Stdout, "usage: templated ledger <subcommand> [flags]\n\nsubcommands:")
		listCommands(env.Stdout, ledgerCommands)
		if len(args) == 0 {
			return &usageError{msg: "ledger: missing subcommand"}
		}
		return nil
	}
	sub, ok := lookup(ledgerCommands, args[0])
	if !ok {
		return &usageError{msg: fmt.Sprintf("ledger: unknown subcommand %q", args[0])}
	}
	return sub.run(ctx, env, args[1:])
}

// dirFlag is the evidence root: -dir, or -evidence-dir as the other
// commands call it; $TEMPLATED_EVIDENCE_DIR sets the default.
func dirFlag(fs *flag.FlagSet, env *cmdEnv) *string {
	dir := fs.String("dir", cmp.Or(env.Getenv("TEMPLATED_EVIDENCE_DIR"), ledger.DefaultDir), "evidence root holding ledger/")
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
// 3 could not verify (usage, unreadable files, no key), 4 too few witness
// cosignatures.
func ledgerVerify(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger verify", env.Stderr)
	dir := dirFlag(fs, env)
	var pubkeys, trusted multiFlag
	fs.Var(&pubkeys, "pubkey", "trusted verifier key file (repeatable; default: the ledger's own hint, with a warning)")
	fs.Var(&trusted, "trusted-checkpoint", "checkpoint kept off the host that the ledger must extend (repeatable)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	noEvidence := fs.Bool("no-evidence", false, "skip evidence files and DSSE envelopes")
	witnesses := fs.Int("witnesses", 0, "require this many witness cosignatures on the newest checkpoint, and ask every configured witness whether it has seen a larger or different tree (exit 4 when too few cosigned)")
	offline := fs.Bool("witness-offline", false, "check only the cosignatures stored with the ledger, asking no witness")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, errFlagHelp) {
			return err
		}
		return &exitError{code: 3, err: err}
	}
	opts := ledger.VerifyOptions{Dir: *dir, SkipEvidence: *noEvidence}
	if *witnesses > 0 || *offline {
		opts.Witnesses = &ledger.WitnessCheck{Required: *witnesses, Offline: *offline, Timeout: 10 * time.Second}
	}
	var err error
	if opts.VerifierKeys, err = ledger.ReadVerifierKeys(pubkeys); err != nil {
		return &exitError{code: 3, err: err}
	}
	if opts.TrustedCheckpoints, err = ledger.ReadTrustedCheckpoints(trusted); err != nil {
		return &exitError{code: 3, err: err}
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

// ledgerPrune removes build evidence folders older than the retention,
// keeping each template's newest successful build; the removal is itself a
// ledger entry (retention.prune) written before anything is deleted.
func ledgerPrune(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet("ledger prune", env.Stderr)
	dir, key := dirFlag(fs, env), keyFlag(fs, env)
	keep := fs.String("retention", "400d", "keep evidence younger than this (units s m h d w); the audit window plus a margin")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	retention, err := state.ParseDuration(*keep)
	if err != nil || retention <= 0 {
		return &usageError{msg: fmt.Sprintf("-retention %q: want a positive duration such as 400d", *keep)}
	}
	l, err := ledger.Open(ctx, ledger.Options{Dir: *dir, KeyFile: *key})
	if err != nil {
		return err
	}
	defer l.Close()
	seq, removed, err := l.Prune(ctx, retention)
	if err != nil {
		return err
	}
	if len(removed) == 0 {
		fmt.Fprintf(env.Stdout, "nothing older than %s to prune\n", *keep)
		return nil
	}
	fmt.Fprintf(env.Stdout, "pruned %d evidence folder(s) older than %s (ledger entry %d):\n", len(removed), *keep, seq)
	for _, b := range removed {
		fmt.Fprintf(env.Stdout, "  %s/%s\n", b.Template, b.BuildID)
	}
	return nil
}

// ledgerWitness is `templated ledger witness add|list|remove`: the
// witnesses (C2SP tlog-witness) that cosign the ledger's checkpoints,
// stored in ledger/witnesses.json.
func ledgerWitness(_ context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 {
		return &usageError{msg: "ledger witness: want add NAME VKEY URL, list, or remove NAME"}
	}
	fs := newFlagSet("ledger witness "+args[0], env.Stderr)
	dir := dirFlag(fs, env)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	switch a := fs.Args(); {
	case args[0] == "add" && len(a) == 3:
		if err := ledger.AddWitness(*dir, ledger.WitnessConfig{Name: a[0], VerifierKey: a[1], URL: a[2]}); err != nil {
			return fmt.Errorf("ledger witness add: %w", err)
		}
		fmt.Fprintf(env.Stdout, "witness %s added; the writer sends it checkpoints from its next start\n", a[0])
		return nil
	case args[0] == "remove" && len(a) == 1:
		if err := ledger.RemoveWitness(*dir, a[0]); err != nil {
			return fmt.Errorf("ledger witness remove: %w", err)
		}
		fmt.Fprintf(env.Stdout, "witness %s removed\n", a[0])
		return nil
	case args[0] == "list" && len(a) == 0:
		ws, err := ledger.ReadWitnesses(*dir)
		if err != nil {
			return fmt.Errorf("ledger witness list: %w", err)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tURL\tVERIFIER KEY")
		for _, w := range ws {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Name, w.URL, w.VerifierKey)
		}
		return tw.Flush()
	}
	return &usageError{msg: "ledger witness: want add NAME VKEY URL, list, or remove NAME"}
}
