package main

import (
	"context"
	"fmt"
	"text/tabwriter"

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
