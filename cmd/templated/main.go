// Command templated keeps Proxmox VE VM templates as desired/templates.yaml
// describes them: it plans, builds with Packer, swaps in safely, and records
// evidence. main only turns the process environment (arguments, signals,
// streams) into a context and a reload channel; every subcommand lives in its
// own file, is listed in the commands table, and returns an error that run
// maps to an exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	env := &cmdEnv{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		Reload: reload,
		// A second SIGINT/SIGTERM after the context is cancelled aborts at once.
		Abort: abortOnSecondSignal(ctx),
	}
	os.Exit(run(ctx, env, os.Args[1:]))
}

// abortOnSecondSignal returns a channel closed when a second stop signal
// arrives after ctx was cancelled by the first one.
func abortOnSecondSignal(ctx context.Context) <-chan struct{} {
	abort := make(chan struct{})
	go func() {
		<-ctx.Done()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		close(abort)
	}()
	return abort
}

// cmdEnv is what a subcommand may use of the process: its streams, its
// environment and the reload channel fed by SIGHUP. Tests build their own.
type cmdEnv struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Reload <-chan struct{}
	Abort  <-chan struct{}
}

// command is one subcommand. It parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// commands lists every subcommand, alphabetically as usage prints them.
var commands = []command{
	{"adopt", "take over a hand-built template at its reserved VMID", runAdopt},
	{"apply", "plan, confirm, then build and swap in templates", runApply},
	{"clones", "which guests were cloned from which template build, and how far behind they are", runClones},
	{"daemon", "keep templates as desired: watch, schedule, reconcile (the systemd service)", runDaemon},
	{"doctor", "check the control node and the cluster before anything is built", runDoctor},
	{"git", "allow the daemon, once, to follow a rewritten history of its git remote", runGit},
	{"ledger", "init, verify, show, repair and prove the evidence ledger", runLedger},
	{"notify", "send a test notification to the desired file's sinks (notify test [SINK])", runNotify},
	{"plan", "show what apply would do, touching nothing", runPlan},
	{"resume", "release a template held after a rollback or suspended by the daemon", runResume},
	{"rollback", "put a template's previous version back and hold it", runRollback},
	{"sim", "run a simulated Proxmox VE API on loopback (for tests and trying templated)", runSim},
	{"status", "per template: VMID, release, age, last result, next rebuild, drift (from the daemon or Proxmox)", runStatus},
	{"validate", "check the desired file and report every problem", runValidate},
}

// lookup finds the command called name in table.
func lookup(table []command, name string) (command, bool) {
	for _, c := range table {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// exitError carries a specific exit code (for example plan's 2 for changes).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError is a mistake in the command line; it exits 2 with a hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func run(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintf(env.Stdout, "templated %s\n", version)
		return 0
	}
	cmd, ok := lookup(commands, args[0])
	if !ok {
		fmt.Fprintf(env.Stderr, "templated: unknown command %q\n\n", args[0])
		usage(env.Stderr)
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	return exitCode(env.Stderr, err)
}

// exitCode maps an error to the process exit code, printing it once.
func exitCode(stderr io.Writer, err error) int {
	var ee *exitError
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errFlagHelp):
		return 0
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "templated: %v\n", ee.err)
		}
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "templated: %v\n", ue.msg)
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "templated: interrupted")
		return 130
	default:
		fmt.Fprintf(stderr, "templated: %v\n", err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: templated <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	listCommands(w, commands)
	fmt.Fprintln(w, "\nRun 'templated <command> -h' for a command's flags.")
}

// listCommands prints a table of commands, one a line with its summary.
func listCommands(w io.Writer, table []command) {
	for _, c := range table {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}
