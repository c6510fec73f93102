package pvesim

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Task is a snapshot of one simulated PVE task.
type Task struct {
	UPID       string
	Node       string
	Type       string // qmclone, qmstart, ...
	ID         string // the VMID the task is about ("" for some)
	User       string // full user or token id: "root@pam!templated"
	Status     string // "running" or "stopped"
	ExitStatus string // "" while running; "OK" or the error text
	StartTime  time.Time
	EndTime    time.Time
	Log        []string
}

type task struct {
	upid, node, typ, id, user string
	pid, pstart               uint32
	start, end                time.Time
	status, exit              string
	observed                  bool
	hang                      bool
	failWith                  string       // worker error decided when the task started
	commit                    func() error // run with c.mu held when the task ends well
	rollback                  func()       // run with c.mu held when the task fails
	log                       []string
	w                         *taskWork // nil: the task has no worker goroutine
}

// taskSpec describes a task a handler starts. At the end, under c.mu,
// commit applies the effect (its error fails the task) or, when the task
// fails, rollback undoes what the start did.
type taskSpec struct {
	node, typ, id, user string
	failWith            string
	commit              func() error
	rollback            func()
	log                 []string
	// work, when set, is the task's worker: it runs in its own goroutine
	// without c.mu (see taskwork.go), and the task cannot end before it
	// returns. Its error is the task's exit status; rollback also runs
	// when the task was stopped while the work was under way.
	work workFunc
}

// reUPID is pve-common's upid_decode pattern.
var reUPID = regexp.MustCompile(`^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$`)

// unobservedGrace is how long a task nobody polls keeps running before it
// ends anyway (a real worker does not wait for its observers).
const unobservedGrace = 10 * time.Second

// startTask creates a running task; c.mu must be held. tf is the fault
// effect for this request, if any.
func (c *Cluster) startTask(s taskSpec, tf *taskFault) string {
	c.pidSeq++
	now := c.now()
	t := &task{node: s.node, typ: s.typ, id: s.id, user: s.user, pid: c.pidSeq, pstart: c.pstart + c.pidSeq,
		start: now, status: "running", failWith: s.failWith, commit: s.commit, rollback: s.rollback, log: s.log}
	if tf != nil {
		t.hang = tf.hang
		if tf.exit != "" && t.failWith == "" {
			t.failWith = tf.exit
		}
	}
	t.upid = fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:%s:", t.node, t.pid, t.pstart, uint32(now.Unix()), t.typ, t.id, t.user)
	c.tasks[t.upid] = t
	c.taskList = append(c.taskList, t)
	if s.work != nil && t.failWith == "" {
		c.startWork(t, s.work)
	}
	if !t.hang {
		time.AfterFunc(c.duration+unobservedGrace, func() { c.finish(t) })
	}
	return t.upid
}

// observe is called when a client reads the task status; the first read
// always sees "running", and the task ends TaskDuration after its start
// but never before that first read. c.mu must be held.
func (c *Cluster) observe(t *task) {
	if t.observed || t.status != "running" {
		return
	}
	t.observed = true
	if t.hang {
		return
	}
	d := time.Until(t.start.Add(c.duration))
	time.AfterFunc(max(d, 0), func() { c.finish(t) })
}

// finish ends a running task, applying its effect or rolling it back.
func (c *Cluster) finish(t *task) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || t.status != "running" {
		return
	}
	if t.w != nil && !t.w.done {
		t.w.due = true // the worker ends it when it returns
		return
	}
	c.endTaskLocked(t, t.exitError())
}

// exitError is the error a task ends with when it ends on its own: the
// one decided at its start, else its worker's.
func (t *task) exitError() string {
	if t.failWith == "" && t.w != nil {
		return t.w.err
	}
	return t.failWith
}

func (c *Cluster) endTaskLocked(t *task, failWith string) {
	t.status = "stopped"
	t.end = c.now()
	if failWith == "" && t.commit != nil {
		if err := t.commit(); err != nil {
			failWith = asAPIError(err).msg
		}
	}
	if failWith != "" {
		t.exit = strings.TrimRight(failWith, "\n")
		if t.rollback != nil {
			t.rollback()
		}
		t.log = append(t.log, "TASK ERROR: "+t.exit)
	} else {
		t.exit = "OK"
		t.log = append(t.log, "TASK OK")
	}
	if t.w != nil {
		t.w.cancel() // a stopped task's worker gives up
	}
	// The closures hold guests that may be gone by now; a long-running
	// simulator keeps every task, so let them go.
	t.commit, t.rollback = nil, nil
	c.onChange()
}

func (t *task) snapshot() Task {
	return Task{UPID: t.upid, Node: t.node, Type: t.typ, ID: t.id, User: t.user, Status: t.status,
		ExitStatus: t.exit, StartTime: t.start, EndTime: t.end, Log: append([]string(nil), t.log...)}
}

// statusJSON is GET /nodes/{node}/tasks/{upid}/status.
func (t *task) statusJSON() map[string]any {
	user, token, _ := strings.Cut(t.user, "!")
	out := map[string]any{
		"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart, "starttime": t.start.Unix(),
		"type": t.typ, "id": t.id, "user": user, "status": t.status,
	}
	if token != "" {
		out["tokenid"] = token
	}
	if t.status == "stopped" {
		out["exitstatus"] = t.exit
	}
	return out
}

// listJSON is one entry of GET /nodes/{node}/tasks.
func (t *task) listJSON() map[string]any {
	user, token, _ := strings.Cut(t.user, "!")
	out := map[string]any{"upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
		"starttime": t.start.Unix(), "type": t.typ, "id": t.id, "user": user}
	if token != "" {
		out["tokenid"] = token
	}
	if t.status == "stopped" {
		out["status"] = t.exit
		out["endtime"] = t.end.Unix()
	}
	return out
}

// CompleteTasks ends every running task now, as if its worker finished
// (hanging tasks included, which fail with "interrupted by signal"). It
// first waits for the tasks that really work (downloads) to finish.
// Useful for tests that do not poll.
func (c *Cluster) CompleteTasks() {
	c.waitWorkers()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.taskList {
		if t.status != "running" {
			continue
		}
		if t.w != nil && !t.w.done { // started after the wait: ends when its worker returns
			t.w.due = true
			continue
		}
		fail := t.exitError()
		if t.hang {
			fail = "interrupted by signal"
		}
		c.endTaskLocked(t, fail)
	}
}

func upidNode(upid string) (string, bool) {
	m := reUPID.FindStringSubmatch(upid)
	if m == nil {
		return "", false
	}
	return m[1], true
}

func itoa(i int) string { return strconv.Itoa(i) }
