package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"templated/internal/ledger"
)

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

// ledgerVerifyWitnessed is `ledger verify`, plus --witnesses N (require N
// cosignatures on the newest checkpoint and ask every configured witness
// whether it has seen a larger or different tree) and --witness-offline
// (stored cosignatures only). The local report comes first, then the
// witnesses'; the exit code is the worse: 1 tampered, 4 unwitnessed, 2
// repairable, 3 could not verify.
func ledgerVerifyWitnessed(ctx context.Context, env *cmdEnv, args []string) error {
	n, offline, rest, err := splitWitnessFlags(args)
	if err != nil {
		return &exitError{code: 3, err: err}
	}
	if n == 0 && !offline {
		return ledgerVerify(ctx, env, args)
	}
	fs := flag.NewFlagSet("ledger verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := dirFlag(fs, env)
	var pubkeys, trusted multiFlag
	fs.Var(&pubkeys, "pubkey", "")
	fs.Var(&trusted, "trusted-checkpoint", "")
	asJSON := fs.Bool("json", false, "")
	fs.Bool("no-evidence", false, "")
	_ = fs.Parse(rest) // ledgerVerify reports flag errors
	local := ledgerVerify(ctx, env, rest)
	var ee *exitError
	if local != nil && (!errors.As(local, &ee) || ee.code == 3) {
		return local
	}
	keys, err := ledger.ReadVerifierKeys(pubkeys)
	if err != nil {
		return &exitError{code: 3, err: err}
	}
	r, err := ledger.Verify(ctx, ledger.VerifyOptions{Dir: *dir, VerifierKeys: keys, SkipEvidence: true,
		Witnesses: &ledger.WitnessCheck{Required: n, Offline: offline, Timeout: 10 * time.Second}})
	if err != nil {
		return &exitError{code: 3, err: fmt.Errorf("ledger verify --witnesses: %w", err)}
	}
	if *asJSON {
		err = r.WriteJSON(env.Stdout)
	} else {
		fmt.Fprintln(env.Stdout, "witnesses:")
		err = r.WriteText(env.Stdout)
	}
	if err != nil {
		return err
	}
	code := r.ExitCode()
	if ee != nil && (ee.code == 1 || code == 0 || (ee.code == 2 && code == 2)) {
		code = ee.code
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// splitWitnessFlags takes --witnesses N and --witness-offline out of args.
func splitWitnessFlags(args []string) (n int, offline bool, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
		name, val, hasVal := strings.Cut(a, "=")
		switch {
		case name == "witness-offline" && !hasVal:
			offline = true
		case name == "witnesses":
			if !hasVal {
				if i+1 == len(args) {
					return 0, false, nil, errors.New("--witnesses needs a number")
				}
				i++
				val = args[i]
			}
			if n, err = strconv.Atoi(val); err != nil || n < 0 {
				return 0, false, nil, fmt.Errorf("--witnesses %q: want a number of cosignatures", val)
			}
		default:
			rest = append(rest, args[i])
		}
	}
	return n, offline, rest, nil
}
