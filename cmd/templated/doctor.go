package main

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"

	"templated/internal/doctor"
	"templated/internal/ledger"
	"templated/internal/packer"
	"templated/internal/proxmox"
	"templated/internal/state"
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
	results := doctor.Evaluate(doctor.Gather(ctx, c.doctorInput(d, log)))
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

// doctorInput is what doctor checks for the desired state d, from the
// common flags and the connection settings.
func (c *common) doctorInput(d *state.Desired, log logrus.FieldLogger) doctor.Input {
	in := doctor.Input{Desired: d, PackerRoot: workspace.DefaultRoot(c.desired), KeyPath: ledger.DefaultKeyPath(c.env.Getenv),
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
	return in
}

// startupDoctor runs doctor's checks once as the daemon starts (before it
// takes the state lock) and returns the ones that failed, each logged; a
// desired file that cannot be read yet (a git remote not fetched) skips
// them.
func startupDoctor(ctx context.Context, c *common, log logrus.FieldLogger) []doctor.Result {
	d, err := c.loadDesired("")
	if err != nil {
		log.WithError(err).Info("doctor at start skipped: no desired state yet")
		return nil
	}
	var failed []doctor.Result
	for _, r := range doctor.Evaluate(doctor.Gather(ctx, c.doctorInput(d, log))) {
		if r.Status == doctor.Fail {
			log.WithFields(logrus.Fields{"check": r.ID, "message": r.Message, "fix": r.Fix}).Error("doctor at start: check failed")
			failed = append(failed, r)
		}
	}
	return failed
}
