package proxmox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"templated/internal/state"
)

var (
	upidNodeRE = regexp.MustCompile(`^UPID:([a-zA-Z0-9][a-zA-Z0-9\-]*):`)
	taskOKRE   = regexp.MustCompile(`^(OK|WARNINGS)`)
)

// startTask sends one state-changing request through the library (send)
// and returns the UPID PVE answered with ("" for synchronous answers such
// as PUT config's {"data":null}).
func (c *Client) startTask(ctx context.Context, op string, send func(context.Context) error) (string, error) {
	return do(ctx, c, c.opts.WriteTimeout, op, func(ctx context.Context) (string, error) {
		if err := send(ctx); err != nil {
			return "", err
		}
		return callStatsFrom(ctx).lastUPID(), nil
	})
}

// runTask starts a task and waits for it; a task that must exist (clone,
// template, delete) and got no UPID is an unexpected answer.
func (c *Client) runTask(ctx context.Context, node, op string, send func(context.Context) error) error {
	upid, err := c.startTask(ctx, op, send)
	if err != nil {
		return err
	}
	if upid == "" {
		return &Error{Kind: ErrUnexpected, Msg: fmt.Sprintf("%s: Proxmox answered without a task id (UPID)", op)}
	}
	return c.waitTask(ctx, node, upid)
}

// runMaybeTask sends a request that answers with a task on current PVE
// and synchronously (null) on older releases, and waits for the task if
// there is one.
func (c *Client) runMaybeTask(ctx context.Context, node, op string, send func(context.Context) error) error {
	upid, err := c.startTask(ctx, op, send)
	if err != nil || upid == "" {
		return err
	}
	return c.waitTask(ctx, node, upid)
}

// waitTask polls GET /nodes/{node}/tasks/{upid}/status until the task
// stops: soon at first (most PVE tasks of templated's take about a second,
// and the swap's window of an empty VMID is as long as a delete's last
// poll), then every PollInterval. It does not use the library's WaitForCompletion,
// which sleeps without looking at ctx, forgets the UPID and turns the
// exit status into a plain string error. A failed task gives a
// *state.TaskError carrying PVE's exitstatus.
func (c *Client) waitTask(ctx context.Context, node, upid string) error {
	if m := upidNodeRE.FindStringSubmatch(upid); m != nil {
		node = m[1]
	}
	op := "GET task status " + upid
	url := "/nodes/" + node + "/tasks/" + upid + "/status"
	failures, polls := 0, 0
	for {
		st, err := do(ctx, c, c.opts.ReadTimeout, op, func(ctx context.Context) (map[string]any, error) {
			return c.api.GetItemConfigMapStringInterface(ctx, url, "task", "status")
		})
		if err != nil {
			if ctx.Err() != nil {
				return c.taskTimeout(upid, ctx.Err())
			}
			failures++
			if failures >= 3 || !transient(err) {
				return fmt.Errorf("wait for task %s: %w", upid, err)
			}
		} else {
			failures = 0
			exit := str(st["exitstatus"])
			if str(st["status"]) == "stopped" || exit != "" {
				if taskOKRE.MatchString(exit) {
					return nil
				}
				return c.taskFailed(upid, exit)
			}
		}
		t := time.NewTimer(pollDelay(polls, c.opts.PollInterval))
		polls++
		select {
		case <-ctx.Done():
			t.Stop()
			return c.taskTimeout(upid, ctx.Err())
		case <-t.C:
		}
	}
}

// taskFailed classifies a failed task by its exit status and says what
// to do; the error unwraps to *state.TaskError.
func (c *Client) taskFailed(upid, exit string) error {
	e := NewTaskError(upid, exit)
	e.Msg = c.scrub(c.explain(e.Kind, "task "+upid+" failed", exit))
	return e
}

// NewTaskError is the error of a task that ended with exit status exit:
// its Kind comes from the message (ErrLocked, ErrConflict, ...; otherwise
// ErrTaskFailed) and it unwraps to *state.TaskError.
func NewTaskError(upid, exit string) *Error {
	kind := kindForMessage(0, exit)
	if kind == ErrAPI {
		kind = ErrTaskFailed
	}
	return &Error{Kind: kind, Err: &state.TaskError{UPID: upid, ExitStatus: exit}, Msg: "task " + upid + " failed: " + exit}
}

func (c *Client) taskTimeout(upid string, cause error) error {
	if errors.Is(cause, context.Canceled) {
		return &Error{Kind: context.Canceled, Err: cause,
			Msg: fmt.Sprintf("stopped waiting for task %s (canceled); the task keeps running on the node", upid)}
	}
	return &Error{Kind: ErrTimeout, Err: cause,
		Msg: fmt.Sprintf("task %s did not finish within the deadline; it may still be running on the node: check its log in the Proxmox UI", upid)}
}

// transient reports whether a poll failure may go away on the next poll.
func transient(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrAPI)
}

// pollDelay is the pause before poll n+1: 100 ms, 200 ms, 400 ms, ...,
// at most every.
func pollDelay(n int, every time.Duration) time.Duration {
	d := 100 * time.Millisecond << min(n, 10)
	return min(d, every)
}
