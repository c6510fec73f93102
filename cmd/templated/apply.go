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
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"templated/internal/builder"
	"templated/internal/daemon"
	"templated/internal/journal"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/reconcile"
	"templated/internal/workspace"
)

func init() {
	register("apply", "plan, confirm, then build and swap in templates", runApply)
	register("rollback", "put a template's previous version back and hold it", runRollback)
	register("adopt", "take over a hand-built template at its reserved VMID", runAdopt)
	register("resume", "release a template held after a rollback or suspended by the daemon", runResume)
}

// actFlags are the flags of the commands that change the cluster.
type actFlags struct {
	common
	ledgerKey    string
	communicator string
	keepFailed   bool
	parallel     int
	perNode      int
}

func (a *actFlags) register(fs *flag.FlagSet, env *cmdEnv) {
	a.common.register(fs, env)
	fs.StringVar(&a.ledgerKey, "ledger-key", "", "ledger signing `key` (default: $TEMPLATED_LEDGER_KEY, /etc/templated/ledger.key for root, else ~/.config/templated/ledger.key)")
	fs.StringVar(&a.communicator, "communicator", env.Getenv("TEMPLATED_COMMUNICATOR"), "override the Packer communicator (`none` against the simulator, where no guest boots)")
	fs.BoolVar(&a.keepFailed, "keep-failed", false, "keep a failed build's staging VM for debugging")
	fs.IntVar(&a.parallel, "parallel", 2, "builds at once, overall")
	fs.IntVar(&a.perNode, "per-node", 0, "builds at once per Proxmox node (default: -parallel)")
}

// actor is everything a command that changes the cluster holds open.
type actor struct {
	a      *actFlags
	s      *session
	led    *ledger.Ledger
	rec    *recorder
	exec   *reconcile.Executor
	unlock func()
}

func (a *actor) close() {
	if a.led != nil {
		_ = a.led.Close()
	}
	if a.unlock != nil {
		a.unlock()
	}
}

// open prepares a session, takes the state lock, opens the ledger and
// builds the executor. Output for people goes to progress.
func (a *actFlags) open(ctx context.Context, only string, progress io.Writer) (*actor, error) {
	s, err := a.prepare(ctx, only)
	if err != nil {
		return nil, err
	}
	j, err := journal.OpenJournal(a.stateDir)
	if err != nil {
		return nil, err
	}
	unlock, err := j.Lock()
	if err != nil {
		return nil, err
	}
	act := &actor{a: a, s: s, unlock: unlock}
	log, _ := a.logger()
	led, err := a.openLedger(ctx, log, s.config.TokenSecret.Reveal())
	if err != nil {
		act.close()
		return nil, err
	}
	act.led = led
	act.rec = newRecorder(ctx, led, a.desired, s.packerVersion, a.pluginVersions(ctx, s.runner, log), a.env.Getenv)
	act.exec = a.executor(s, act.rec, j, log, progress)
	return act, nil
}

// openLedger opens the evidence ledger for writing, with the key from
// -ledger-key or its default place. secret (the API token) is refused in
// entries and redacted from evidence.
func (a *actFlags) openLedger(ctx context.Context, log logrus.FieldLogger, secret string) (*ledger.Ledger, error) {
	keyFile := a.ledgerKey
	if keyFile == "" {
		keyFile = ledger.DefaultKeyPath(a.env.Getenv)
	}
	opts := ledger.Options{Dir: a.evidence, KeyFile: keyFile, Logger: log}
	if secret != "" {
		opts.Secrets = []string{secret}
	}
	led, err := ledger.Open(ctx, opts)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("open ledger: %w (create a signing key with `templated ledger init`)", err)
	case err != nil:
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	return led, nil
}

// executor builds the executor for a session.
func (a *actFlags) executor(s *session, rec *recorder, j *journal.Journal, log logrus.FieldLogger, progress io.Writer) *reconcile.Executor {
	perNode := a.perNode
	if perNode <= 0 {
		perNode = a.parallel
	}
	return &reconcile.Executor{
		Cluster: s.cluster, Recorder: rec, Journal: j, Log: log, Progress: progress,
		Parallel: a.parallel, PerNode: perNode, KeepFailed: a.keepFailed, Commit: rec.commit(),
		Builder: &builder.Packer{Runner: s.runner, Root: a.packerRoot(), Communicator: a.communicator, PackerVersion: s.packerVersion,
			ISOStore: s.cluster, Log: log,
			Conn: workspace.Conn{URL: s.config.URL, TokenID: s.config.TokenID, TokenSecret: s.config.TokenSecret.Reveal(),
				CAFile: s.config.CAFile, InsecureSkipTLSVerify: s.config.InsecureSkipTLSVerify}},
	}
}

// recover finishes what an interrupted run left in the journal.
func (act *actor) recover(ctx context.Context, w io.Writer) error {
	if err := act.a.reapOrphans(ctx); err != nil {
		return err
	}
	pending, err := act.exec.Journal.Pending()
	if err != nil || len(pending) == 0 {
		return err
	}
	fmt.Fprintf(w, "Recovering %d interrupted operation(s) from the journal...\n", len(pending))
	if err := act.exec.Recover(ctx, act.s.desired); err != nil {
		return fmt.Errorf("recover interrupted operations: %w", err)
	}
	return nil
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
	act, err := a.open(ctx, *only, env.Stdout)
	if err != nil {
		return err
	}
	defer act.close()
	if err := act.recover(ctx, env.Stdout); err != nil {
		return err
	}
	p, err := act.s.observe(ctx, &a.common)
	if err != nil {
		return err
	}
	if err := plan.WriteText(env.Stdout, p, plan.TextOptions{Color: a.colour(env.Stdout)}); err != nil {
		return err
	}
	if !p.HasChanges() {
		return act.rec.Decision(ctx, act.s.desired, p, "apply")
	}
	if !*auto {
		ok, err := confirm(env)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(env.Stdout, "Apply cancelled.")
			return nil
		}
	}
	if err := act.rec.Decision(ctx, act.s.desired, p, "apply"); err != nil {
		return fmt.Errorf("record decision: %w", err)
	}
	start := time.Now()
	rep, err := act.exec.Apply(ctx, act.s.desired, p)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout)
	for _, r := range rep.Results {
		if r.Err != nil {
			fmt.Fprintf(env.Stdout, "  ✗ %s: %s failed at %s after %s: %s\n", r.Template, r.Action, r.Step, r.Duration.Round(time.Second), brief(r.Err.Error(), 400))
		} else {
			fmt.Fprintf(env.Stdout, "  ✓ %s: %s in %s (reserved VMID empty for %s)\n", r.Template, r.Action, r.Duration.Round(time.Second), r.SwapWindow.Round(time.Millisecond))
		}
	}
	// The checkpoint in the CI log is an off-host anchor for auditors.
	fmt.Fprintf(env.Stdout, "\nLedger checkpoint (keep a copy off this host; `templated ledger verify --trusted-checkpoint FILE` checks history against it):\n%s", act.led.Checkpoint())
	failed := len(rep.Failed())
	fmt.Fprintf(env.Stdout, "\nApply: %d succeeded, %d failed in %s. Evidence: %s\n", len(rep.Results)-failed, failed, time.Since(start).Round(time.Second), a.evidence)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d builds failed; see the evidence folders and docs/runbook-build-failure.md", failed, len(rep.Results))}
	}
	return nil
}

// brief shortens s to about n bytes for a summary line; the full text is in
// the log and the evidence.
func brief(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "… (full error in the log and the build's evidence)"
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

func oneName(fs *flag.FlagSet, cmd string) (string, error) {
	if fs.NArg() != 1 {
		return "", &usageError{msg: fmt.Sprintf("usage: templated %s [flags] NAME", cmd)}
	}
	return fs.Arg(0), nil
}

// onOne runs a command that acts on one named template: it parses the
// flags, opens the actor for that template, finishes interrupted work from
// the journal, and calls do.
func onOne(ctx context.Context, env *cmdEnv, args []string, cmd string, do func(act *actor, name string) (string, error)) error {
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
	act, err := a.open(ctx, name, env.Stdout)
	if err != nil {
		return err
	}
	defer act.close()
	if err := act.recover(ctx, env.Stdout); err != nil {
		return err
	}
	msg, err := do(act, name)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, msg)
	return nil
}

func runRollback(ctx context.Context, env *cmdEnv, args []string) error {
	return onOne(ctx, env, args, "rollback", func(act *actor, name string) (string, error) {
		err := act.exec.Rollback(ctx, act.s.desired, name, act.s.inputs[name], operator(env))
		return fmt.Sprintf("%s rolled back; it is held until its desired entry changes or `templated resume %s`.", name, name), err
	})
}

func runAdopt(ctx context.Context, env *cmdEnv, args []string) error {
	return onOne(ctx, env, args, "adopt", func(act *actor, name string) (string, error) {
		err := act.exec.Adopt(ctx, act.s.desired, name)
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
	// Open the ledger before changing anything, so that a release is never
	// left unrecorded; the daemon, if it holds the ledger, records it.
	led, err := a.openLedger(ctx, nil, "")
	switch {
	case errors.Is(err, ledger.ErrLocked):
		led = nil
	case err != nil:
		return fmt.Errorf("resume %s: %w", name, err)
	default:
		defer led.Close()
	}
	j, err := journal.OpenJournal(a.stateDir)
	if err != nil {
		return err
	}
	holds, err := j.Holds()
	if err != nil {
		return err
	}
	var released []string
	if _, held := holds[name]; held {
		if err := j.SetHold(name, nil); err != nil {
			return err
		}
		released = append(released, "the hold set by rollback")
	}
	suspended, err := daemon.Resume(a.stateDir, name)
	if err != nil {
		return err
	}
	if suspended {
		released = append(released, "the daemon's suspension after repeated failures")
	}
	if len(released) == 0 {
		return &exitError{code: 1, err: fmt.Errorf("resume: %s is neither held nor suspended", name)}
	}
	what := strings.Join(released, " and ")
	if led == nil {
		fmt.Fprintln(env.Stdout, "The daemon holds the ledger; it records the resume at its next run.")
	} else if _, err := led.Append(ctx, ledger.Entry{Kind: ledger.KindResume, Template: name, Result: "success",
		Detail: map[string]string{"released": what, "by": operator(env)}}); err != nil {
		return fmt.Errorf("record resume: %w", err)
	}
	fmt.Fprintf(env.Stdout, "%s resumed: released %s.\n", name, what)
	return nil
}
