package packer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// maxLine bounds one line of output; longer lines arrive in pieces.
const maxLine = 64 << 10

// invocation is one run of the Packer binary.
type invocation struct {
	args   []string
	dir    string
	env    []string
	onLine func(line []byte) // called for each line of stdout and stderr, never concurrently
}

// exit is how a run ended.
type exit struct {
	code   int   // exit code, 128+signal when signaled
	killed bool  // the process died of SIGKILL
	err    error // from Wait
}

// run starts Packer in its own process group and waits for it. When ctx
// ends, the group gets SIGINT, and SIGKILL after KillGrace. Whatever is left
// of the group when Packer itself has exited is killed, so no helper process
// outlives a run. A non-nil error means Packer could not be started.
func (r *Runner) run(ctx context.Context, inv invocation) (exit, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return exit{}, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return exit{}, fmt.Errorf("stderr pipe: %w", err)
	}
	defer outR.Close()
	defer errR.Close()

	// Packer inherits read ends too (as fds 3 and 4, unused): should
	// templated die, Packer's writes still find a reader instead of killing
	// it with SIGPIPE in the middle of its cleanup.
	keep, err := reopenAll(outR, errR)
	if err != nil {
		outW.Close()
		errW.Close()
		return exit{}, err
	}
	cmd, stopKillTimer := r.command(ctx, inv, outW, errW, keep)

	// Pdeathsig fires when the thread that started the child exits; keep
	// this goroutine on its thread until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	err = cmd.Start()
	outW.Close()
	errW.Close()
	closeAll(keep)
	if err != nil {
		return exit{}, err
	}
	pgid := cmd.Process.Pid
	forget, err := recordPID(r.PIDDir, pgid)
	if err != nil {
		r.log().WithError(err).Warn("cannot record the packer process for orphan clean-up")
		forget = func() {}
	}
	defer forget()

	var (
		lineMu sync.Mutex
		wg     sync.WaitGroup
	)
	for _, f := range []*os.File{outR, errR} {
		wg.Go(func() { readLines(f, &lineMu, inv.onLine) })
	}

	// Packer has exited once waitExited returns; it stays a zombie until
	// cmd.Wait reaps it, so its PID, the group's ID, cannot be reused
	// while anything left in its group (plugins, provisioner children) is
	// killed. ESRCH just means the group is already empty.
	waitExited(pgid)
	stopKillTimer()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitErr := cmd.Wait()

	r.drainOrClose(&wg, outR, errR)

	ex := exit{err: waitErr, code: -1}
	if cmd.ProcessState == nil {
		return ex, nil
	}
	ex.code = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		ex.code = 128 + int(ws.Signal())
		ex.killed = ws.Signal() == syscall.SIGKILL
	}
	return ex, nil
}

// command makes the exec.Cmd for inv: its own process group, SIGINT to the
// group when ctx ends and SIGKILL after KillGrace. stopKillTimer, called
// once Packer has exited (before it is reaped), cancels the pending
// SIGKILL and keeps a late cancel from arming another.
func (r *Runner) command(ctx context.Context, inv invocation, stdout, stderr *os.File, extra []*os.File) (cmd *exec.Cmd, stopKillTimer func()) {
	cmd = exec.CommandContext(ctx, r.packer(), inv.args...)
	cmd.Dir, cmd.Env = inv.dir, inv.env
	cmd.Stdout, cmd.Stderr = stdout, stderr // *os.File: no copying goroutines inside exec
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If templated dies, Packer is told to clean up as on a cancel.
		// SIGTERM, not SIGINT: the outer packer process (panicwrap) ignores
		// SIGINT and forwards SIGTERM to the real one.
		Pdeathsig: syscall.SIGTERM,
	}
	var (
		mu     sync.Mutex
		timer  *time.Timer
		exited bool // Packer has exited: its group ID may soon be reused
	)
	grace := r.killGrace()
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		mu.Lock()
		defer mu.Unlock()
		if exited {
			// ctx ended after Packer exited, before exec noticed: signal
			// nothing, since after the reap the group ID is free.
			return os.ErrProcessDone
		}
		timer = time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return os.ErrProcessDone
			}
			return err
		}
		return nil
	}
	// Backstop: should Packer have left its own process group, exec kills
	// it directly a little after the group kill.
	cmd.WaitDelay = grace + time.Second
	return cmd, func() {
		mu.Lock()
		defer mu.Unlock()
		exited = true
		if timer != nil {
			timer.Stop()
		}
	}
}

// drainOrClose waits for the readers to reach EOF; if a process outside the
// group still holds the pipes after the drain timeout, it closes our ends.
func (r *Runner) drainOrClose(readers *sync.WaitGroup, files ...*os.File) {
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(r.drain()):
		closeAll(files)
		<-drained
	}
}

// readLines calls onLine for each line read from f (a line longer than
// maxLine comes in pieces) until EOF or error.
func readLines(f *os.File, mu *sync.Mutex, onLine func([]byte)) {
	br := bufio.NewReaderSize(f, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && onLine != nil {
			mu.Lock()
			onLine(line)
			mu.Unlock()
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// waitExited blocks until process pid has exited, without reaping it:
// waitid(P_PID, pid, WEXITED|WNOWAIT). On an unexpected error it returns at
// once and cmd.Wait does the waiting.
func waitExited(pid int) {
	const (
		pPID    = 1
		wExited = 0x4
		wNoWait = 0x1000000
	)
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait, 0, 0)
		if errno != syscall.EINTR {
			return
		}
	}
}

// reopenAll opens each pipe read end again, as a new open file description:
// os.StartProcess puts the files it passes into blocking mode, and a dup
// would share that mode with our own ends, whose reads must stay
// interruptible by Close.
func reopenAll(files ...*os.File) ([]*os.File, error) {
	var out []*os.File
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("reopen pipe: %w", err)
		}
		var fd int
		var openErr error
		if err := rc.Control(func(s uintptr) {
			fd, openErr = syscall.Open("/proc/self/fd/"+strconv.Itoa(int(s)), syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		}); err != nil || openErr != nil {
			closeAll(out)
			return nil, fmt.Errorf("reopen pipe: %w", errors.Join(err, openErr))
		}
		out = append(out, os.NewFile(uintptr(fd), f.Name()))
	}
	return out, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
