package pvesim

func init() {
	handle("GET", "/nodes/{node}/tasks", listTasks)
	handle("GET", "/nodes/{node}/tasks/{upid}", taskIndex)
	handle("DELETE", "/nodes/{node}/tasks/{upid}", stopTask)
	handle("GET", "/nodes/{node}/tasks/{upid}/status", taskStatus)
	handle("GET", "/nodes/{node}/tasks/{upid}/log", taskLog)
}

// reqTask resolves {node}/{upid}; c.mu must be held.
func (s *Server) reqTask(rc *reqCtx) (*task, error) {
	upid := rc.vars["upid"]
	node, ok := upidNode(upid)
	if !ok {
		return nil, paramError(map[string]string{"upid": "unable to parse worker upid '" + upid + "'"})
	}
	t, found := s.cluster.tasks[upid]
	if !found || node != rc.vars["node"] {
		return nil, paramError(map[string]string{"upid": "no such task"})
	}
	return t, nil
}

func taskStatus(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := s.reqTask(rc)
	if err != nil {
		return nil, err
	}
	out := t.statusJSON()
	c.observe(t)
	return out, nil
}

func taskIndex(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, err := s.reqTask(rc); err != nil {
		return nil, err
	}
	return []map[string]string{{"name": "log"}, {"name": "status"}}, nil
}

func taskLog(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, err := s.reqTask(rc)
	if err != nil {
		return nil, err
	}
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
	return out, nil
}

// stopTask is DELETE …/tasks/{upid}: a running task is killed.
func stopTask(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := s.reqTask(rc)
	if err != nil {
		return nil, err
	}
	if t.status == "running" {
		c.endTaskLocked(t, "interrupted by signal")
	}
	return nil, nil
}

func listTasks(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	node := rc.vars["node"]
	if err := c.checkNode(node); err != nil {
		return nil, err
	}
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
}
