package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/session"
	"templated/internal/state"
)

// actFlags are the flags of the commands that change the cluster.
type actFlags struct {
	common
	ledgerKey    string
	communicator string
	keepFailed   bool
	parallel     int
	perNode      int
	leaseWait    time.Duration
}

func (a *actFlags) register(fs *flag.FlagSet, env *cmdEnv) {
	a.common.register(fs, env)
	fs.StringVar(&a.ledgerKey, "ledger-key", "", "ledger signing `key` (default: $TEMPLATED_LEDGER_KEY, /etc/templated/ledger.key for root, else ~/.config/templated/ledger.key)")
	fs.StringVar(&a.communicator, "communicator", env.Getenv("TEMPLATED_COMMUNICATOR"), "override the Packer communicator (`none` against the simulator, where no guest boots)")
	fs.BoolVar(&a.keepFailed, "keep-failed", false, "keep a failed build's staging VM for debugging")
	fs.IntVar(&a.parallel, "parallel", 2, "builds at once, overall")
	fs.IntVar(&a.perNode, "per-node", 0, "builds at once per Proxmox node (default: -parallel)")
	fs.DurationVar(&a.leaseWait, "lease-wait", 0, "how long to wait for the cluster lease another templated installation holds (0: refuse at once, naming it)")
}

// settings adds the acting flags to the common ones.
func (a *actFlags) settings() (session.Settings, error) {
	set, err := a.common.settings()
	set.LedgerKey, set.Communicator, set.KeepFailed = a.ledgerKey, a.communicator, a.keepFailed
	set.Parallel, set.PerNode, set.LeaseWait = a.parallel, a.perNode, a.leaseWait
	return set, err
}

// open loads the desired state and opens a session that may act; output
// for people goes to w.
func (a *actFlags) open(ctx context.Context, only string) (*state.Desired, *session.Session, error) {
	d, err := a.loadDesired(only)
	if err != nil {
		return nil, nil, err
	}
	set, err := a.settings()
	if err != nil {
		return nil, nil, err
	}
	sess, err := session.Open(ctx, set)
	return d, sess, err
}

// recovering tells people that interrupted operations are being finished.
func recovering(w io.Writer) func(int) {
	return func(n int) {
		fmt.Fprintf(w, "Recovering %d interrupted operation(s) from the journal...\n", n)
	}
}

func runApply(ctx context.Context, env *cmdEnv, args []string) error {
	var a actFlags
	fs := newFlagSet("apply", env.Stderr)
	a.register(fs, env)
	only := fs.String("only", "", "apply only to the template `NAME`")
	auto := fs.Bool("auto-approve", false, "do not ask for confirmation")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if a.parallel < 1 {
		return &usageError{msg: "-parallel must be at least 1"}
	}
	d, sess, err := a.open(ctx, *only)
	if err != nil {
		return err
	}
	defer sess.Close()
	start := time.Now()
	opts := session.Options{Trigger: "apply", Progress: env.Stdout, OnRecover: recovering(env.Stdout),
		Observed: func(p plan.Plan) {
			_ = plan.WriteText(env.Stdout, p, plan.TextOptions{Color: a.colour(env.Stdout)})
		}}
	if !*auto {
		opts.Confirm = func(plan.Plan) (bool, error) { return confirm(env) }
	}
	res, err := sess.Reconcile(ctx, d, opts)
	switch {
	case err != nil:
		return err
	case res.Declined:
		fmt.Fprintln(env.Stdout, "Apply cancelled.")
		return nil
	case !res.Plan.HasChanges():
		return nil
	}
	// Closing makes the last, bounded attempt to reach the ledger's
	// witnesses, so the summary can say whether they cosigned.
	led := sess.Ledger()
	sess.Close()
	return applySummary(ctx, env.Stdout, res, led, time.Since(start), a.evidence)
}

// applySummary prints each build's result, the ledger checkpoint and the
// totals; failed builds make it an exit-1 error.
func applySummary(ctx context.Context, w io.Writer, res session.Result, led *ledger.Ledger, took time.Duration, evidence string) error {
	fmt.Fprintln(w)
	if err := res.Report.WriteText(w); err != nil {
		return err
	}
	// The checkpoint in the CI log is an off-host anchor for auditors.
	fmt.Fprintf(w, "\nLedger checkpoint (keep a copy off this host; `templated ledger verify --trusted-checkpoint FILE` checks history against it):\n%s", led.Checkpoint())
	if err := led.WriteWitnesses(w); err != nil {
		return err
	}
	failed := len(res.Report.Failed())
	fmt.Fprintf(w, "\nApply: %d succeeded, %d failed in %s. Evidence: %s\n", len(res.Report.Results)-failed, failed, took.Round(time.Second), evidence)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d builds failed; see the evidence folders and docs/runbook-build-failure.md", failed, len(res.Report.Results))}
	}
	return nil
}

// confirm asks on a terminal; without one it refuses.
func confirm(env *cmdEnv) (bool, error) {
	if f, ok := env.Stdin.(*os.File); !ok || !isTerminal(f) {
		return false, &usageError{msg: "standard input is not a terminal: pass -auto-approve to apply without confirmation"}
	}
	fmt.Fprint(env.Stdout, "\nDo you want to perform these actions? Only 'yes' will be accepted: ")
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return strings.TrimSpace(line) == "yes", nil
}

// operator names who runs a command, for the ledger.
func operator(env *cmdEnv) string {
	if u := env.Getenv("BUILD_USER_ID"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

// onOne runs a command that acts on one named template: it parses the
// flags, opens a session for that template and calls do, which finishes
// interrupted work from the journal first.
func onOne(ctx context.Context, env *cmdEnv, args []string, cmd string, do func(sess *session.Session, d *state.Desired, name string, o session.Options) (string, error)) error {
	var a actFlags
	fs := newFlagSet(cmd, env.Stderr)
	a.register(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	name, err := oneName(fs, cmd)
	if err != nil {
		return err
	}
	d, sess, err := a.open(ctx, name)
	if err != nil {
		return err
	}
	defer sess.Close()
	msg, err := do(sess, d, name, session.Options{Progress: env.Stdout, OnRecover: recovering(env.Stdout)})
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, msg)
	return nil
}

func oneName(fs *flag.FlagSet, cmd string) (string, error) {
	if fs.NArg() != 1 {
		return "", &usageError{msg: fmt.Sprintf("usage: templated %s [flags] NAME", cmd)}
	}
	return fs.Arg(0), nil
}

func runRollback(ctx context.Context, env *cmdEnv, args []string) error {
	return onOne(ctx, env, args, "rollback", func(sess *session.Session, d *state.Desired, name string, o session.Options) (string, error) {
		err := sess.Rollback(ctx, d, name, operator(env), o)
		return fmt.Sprintf("%s rolled back; it is held until its desired entry changes or `templated resume %s`.", name, name), err
	})
}

func runAdopt(ctx context.Context, env *cmdEnv, args []string) error {
	return onOne(ctx, env, args, "adopt", func(sess *session.Session, d *state.Desired, name string, o session.Options) (string, error) {
		err := sess.Adopt(ctx, d, name, o)
		return fmt.Sprintf("%s adopted; the next apply rebuilds it through the pipeline and keeps the hand-built one as its previous version.", name), err
	})
}

func runResume(ctx context.Context, env *cmdEnv, args []string) error {
	var a actFlags
	fs := newFlagSet("resume", env.Stderr)
	a.register(fs, env)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	name, err := oneName(fs, "resume")
	if err != nil {
		return err
	}
	r, err := session.Resume(ctx, session.Settings{StateDir: a.stateDir, EvidenceDir: a.evidence, LedgerKey: a.ledgerKey,
		Getenv: env.Getenv}, name, operator(env))
	if errors.Is(err, session.ErrNotHeld) {
		return &exitError{code: 1, err: err}
	}
	if err != nil {
		return err
	}
	if !r.Recorded {
		fmt.Fprintln(env.Stdout, "The daemon holds the ledger; it records the resume at its next run.")
	}
	fmt.Fprintf(env.Stdout, "%s resumed: released %s.\n", name, r.Released)
	return nil
}
