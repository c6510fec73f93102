package main

import (
	"context"
	"fmt"

	"templated/internal/doctor"
	"templated/internal/ledger"
	"templated/internal/packer"
	"templated/internal/proxmox"
	"templated/internal/workspace"
)

// runDoctor is `templated doctor [--json]`: every check of internal/doctor,
// exit 1 when one fails.
func runDoctor(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("doctor", env.Stderr)
	c.register(fs, env)
	asJSON := fs.Bool("json", false, "print the checks as JSON (docs/doctor-json.md)")
	verbose := fs.Bool("v", false, "print the details of passing checks too")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, err := c.loadDesired("")
	if err != nil {
		return err
	}
	log, err := c.logger()
	if err != nil {
		return err
	}
	in := doctor.Input{Desired: d, PackerRoot: workspace.DefaultRoot(c.desired), KeyPath: ledger.DefaultKeyPath(env.Getenv),
		EvidenceDir: c.evidence, StateDir: c.stateDir, Packer: &packer.Runner{Packer: c.packerBin, Log: log}, Log: log}
	if conn, err := c.connection(); err != nil {
		in.ConnErr = err
	} else if err := c.secrets.Add("PROXMOX_TOKEN_SECRET", conn.TokenSecret.Reveal()); err != nil {
		in.ConnErr = err
	} else if cl, err := proxmox.New(conn, proxmox.Options{Log: log}); err != nil {
		in.ConnErr = err
	} else {
		in.Conn, in.Cluster = conn, cl
	}
	results := doctor.Evaluate(doctor.Gather(ctx, in))
	if *asJSON {
		err = doctor.WriteJSON(env.Stdout, results)
	} else {
		err = doctor.WriteText(env.Stdout, results, doctor.TextOptions{Verbose: *verbose})
	}
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	if doctor.Failed(results) {
		return &exitError{code: 1}
	}
	return nil
}
