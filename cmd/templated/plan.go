package main

import (
	"context"
	"fmt"
	"time"

	"templated/internal/packer"
	"templated/internal/plan"
	"templated/internal/proxmox"
	"templated/internal/reconcile"
	"templated/internal/state"
)

func init() {
	register("plan", "show what apply would do, touching nothing", runPlan)
	register("validate", "check the desired file and report every problem", runValidate)
}

func runValidate(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("validate", env.Stderr)
	c.register(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, err := c.loadDesired()
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

// session is what plan, apply and the daemon's runs share: the desired
// state, the inputs hashes, and a client for the cluster.
type session struct {
	desired       *state.Desired
	inputs        map[string]string
	packerVersion string
	cluster       *proxmox.Client
	config        proxmox.Config
	runner        *packer.Runner
}

// prepare loads the desired state (narrowed to only, when set), hashes the
// inputs and connects to the cluster.
func (c *common) prepare(ctx context.Context, only string) (*session, error) {
	d, err := c.loadDesired()
	if err != nil {
		return nil, err
	}
	if only != "" {
		t, ok := d.Template(only)
		if !ok {
			return nil, &usageError{msg: fmt.Sprintf("-only %s: no such template in %s", only, c.desired)}
		}
		d.Templates = []state.Template{t}
	}
	r, err := c.runner()
	if err != nil {
		return nil, err
	}
	inputs, pv, err := c.inputs(ctx, d, r)
	if err != nil {
		return nil, err
	}
	cl, cfg, err := c.connect()
	if err != nil {
		return nil, err
	}
	return &session{desired: d, inputs: inputs, packerVersion: pv, cluster: cl, config: cfg, runner: r}, nil
}

// observe reads the cluster and the holds and plans.
func (s *session) observe(ctx context.Context, c *common) (plan.Plan, error) {
	holds, err := c.holds()
	if err != nil {
		return plan.Plan{}, err
	}
	now := time.Now()
	obs, err := reconcile.Observe(ctx, s.cluster, s.desired, s.inputs, holds, now)
	if err != nil {
		return plan.Plan{}, err
	}
	return reconcile.Plan(s.desired, obs, now), nil
}

// plan prepares, observes and plans.
func (c *common) plan(ctx context.Context, only string) (plan.Plan, *session, error) {
	s, err := c.prepare(ctx, only)
	if err != nil {
		return plan.Plan{}, nil, err
	}
	p, err := s.observe(ctx, c)
	return p, s, err
}
