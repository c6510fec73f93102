package main

import (
	"context"
	"fmt"

	"templated/internal/plan"
)

func runValidate(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("validate", env.Stderr)
	c.register(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, err := c.loadDesired("")
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: valid, %d templates (sha256 %s)\n", c.desired, len(d.Templates), d.SHA256[:12])
	return nil
}

func runPlan(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("plan", env.Stderr)
	c.register(fs, env)
	asJSON := fs.Bool("json", false, "print the plan as JSON (docs/plan-json.md)")
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing changes, 2 when something would, 1 on error")
	only := fs.String("only", "", "plan only the template `NAME`")
	verbose := fs.Bool("v", false, "list unchanged templates with their reasons")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, _, err := c.plan(ctx, *only)
	if err != nil {
		return err
	}
	if *asJSON {
		err = plan.WriteJSON(env.Stdout, p)
	} else {
		err = plan.WriteText(env.Stdout, p, plan.TextOptions{Color: c.colour(env.Stdout), Verbose: *verbose})
	}
	if err != nil {
		return err
	}
	if *detailed && p.HasChanges() {
		return &exitError{code: 2}
	}
	return nil
}
