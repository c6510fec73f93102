package pvesim

// withTask runs fn on the request's {node}/{upid} task under the lock.
func (s *Server) withTask(rc *reqCtx, write bool, fn func(t *task) (any, error)) (any, error) {
	defer s.cluster.lockCluster(write)()
	upid := rc.pathValue("upid")
	node, ok := upidNode(upid)
	if !ok {
		return nil, paramError(map[string]string{"upid": "unable to parse worker upid '" + upid + "'"})
	}
	t, found := s.cluster.tasks[upid]
	if !found || node != rc.pathValue("node") {
		return nil, paramError(map[string]string{"upid": "no such task"})
	}
	return fn(t)
}

// taskStatus reads a task's status; the read counts as observing it.
func taskStatus(s *Server, rc *reqCtx) (any, error) {
	return s.withTask(rc, true, func(t *task) (any, error) {
		out := t.statusJSON()
		s.cluster.observe(t)
		return out, nil
	})
}

func taskIndex(s *Server, rc *reqCtx) (any, error) {
	return s.withTask(rc, false, func(*task) (any, error) { return index("name", "log", "status"), nil })
}

func taskLog(s *Server, rc *reqCtx) (any, error) {
	return s.withTask(rc, false, func(t *task) (any, error) { return t.logJSON(rc), nil })
}

func (t *task) logJSON(rc *reqCtx) []map[string]any {
	start := atoiDefault(rc.param("start"), 0)
	limit := atoiDefault(rc.param("limit"), 50)
	out := []map[string]any{}
	for i, line := range t.log {
		if i < start || len(out) >= limit {
			continue
		}
		out = append(out, map[string]any{"n": i + 1, "t": line})
	}
	if len(out) == 0 && start == 0 {
		out = append(out, map[string]any{"n": 1, "t": "no content"})
	}
	return out
}

// stopTask is DELETE …/tasks/{upid}: a running task is killed.
func stopTask(s *Server, rc *reqCtx) (any, error) {
	return s.withTask(rc, true, func(t *task) (any, error) {
		if t.status == "running" {
			s.cluster.endTaskLocked(t, "interrupted by signal")
		}
		return nil, nil
	})
}

func listTasks(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	return s.withNode(rc, false, func(node string) (any, error) {
		vmid := rc.param("vmid")
		limit := atoiDefault(rc.param("limit"), 50)
		out := []map[string]any{}
		for i := len(c.taskList) - 1; i >= 0 && len(out) < limit; i-- {
			t := c.taskList[i]
			if t.node != node || (vmid != "" && t.id != vmid) {
				continue
			}
			if rc.param("source") == "active" && t.status != "running" {
				continue
			}
			out = append(out, t.listJSON())
		}
		return out, nil
	})
}
