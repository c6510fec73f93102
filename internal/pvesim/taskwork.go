package pvesim

import (
	"context"
	"sync"
)

// workFunc is a task's real worker (a download): it runs without c.mu,
// knows its task's worker pid (the UPID's), adds task log lines with logf,
// watches ctx (cancelled when the task is stopped or the simulator
// closes) and returns the task's error, whose text is the exit status PVE
// would show.
type workFunc func(ctx context.Context, pid uint32, logf func(string)) error

// taskWork is the state of a task's worker goroutine; c.mu guards it.
type taskWork struct {
	cancel  context.CancelFunc
	done    bool          // the worker returned
	doneCh  chan struct{} // closed when it returned
	err     string        // its error ("" for success)
	due     bool          // the task's time is up: end it when the worker returns
	cleanup func()        // the task's rollback, for a worker that outlived its task
}

// workers tracks the worker goroutines so that Close can stop and await
// them before it removes their files.
type workers struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWorkers() *workers {
	ctx, cancel := context.WithCancel(context.Background())
	return &workers{ctx: ctx, cancel: cancel}
}

// startWork runs fn as t's worker; c.mu must be held.
func (c *Cluster) startWork(t *task, fn workFunc) {
	ctx, cancel := context.WithCancel(c.workers.ctx)
	t.w = &taskWork{cancel: cancel, doneCh: make(chan struct{}), cleanup: t.rollback}
	c.workers.wg.Add(1)
	go c.runWork(ctx, t, fn)
}

func (c *Cluster) runWork(ctx context.Context, t *task, fn workFunc) {
	defer c.workers.wg.Done()
	logf := func(line string) {
		c.mu.Lock()
		t.log = append(t.log, line)
		c.mu.Unlock()
	}
	err := fn(ctx, t.pid, logf)
	c.mu.Lock()
	defer c.mu.Unlock()
	w := t.w
	w.done = true
	if err != nil {
		w.err = err.Error()
	}
	close(w.doneCh)
	w.cancel()
	switch {
	case t.status != "running" || c.closed:
		// Stopped while working (or the simulator is closing): undo
		// what the worker left behind.
		if w.cleanup != nil {
			w.cleanup()
		}
	case w.due:
		c.endTaskLocked(t, t.exitError())
	}
}

// waitWorkers waits until every running task's worker has returned.
func (c *Cluster) waitWorkers() {
	c.mu.RLock()
	var chans []chan struct{}
	for _, t := range c.taskList {
		if t.status == "running" && t.w != nil && !t.w.done {
			chans = append(chans, t.w.doneCh)
		}
	}
	c.mu.RUnlock()
	for _, ch := range chans {
		<-ch
	}
}

// stopWorkers cancels every worker and waits for them (at Close).
func (c *Cluster) stopWorkers() {
	c.workers.cancel()
	c.workers.wg.Wait()
}
