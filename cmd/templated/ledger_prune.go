package main

import (
	"context"
	"fmt"

	"templated/internal/ledger"
	"templated/internal/state"
)

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
