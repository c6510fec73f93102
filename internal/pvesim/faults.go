package pvesim

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is one injected failure. A request matches when Method (if set),
// Path (if set) and VMID (if set) all match; after the first Skip matching
// requests, which pass untouched, the next Count are affected (0 = all).
// Effects combine: Latency first, then Drop, or an HTTP error (Status), or
// a task effect (TaskExit/TaskHang) on the task the request starts.
type Fault struct {
	// Method is an HTTP method ("POST"); empty matches any.
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// Path is matched against the path below /api2/json: a glob
	// ("/nodes/*/qemu/*/clone", '*' does not cross '/', a trailing "/**"
	// matches any depth) or, prefixed with "re:", a regular expression.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// VMID matches the {vmid} in the path or a vmid/newid parameter.
	VMID int `yaml:"vmid,omitempty" json:"vmid,omitempty"`
	// Skip lets the first Skip matching requests through, so that a fault
	// can aim at a later call of the same shape (the second clone of a
	// VMID, say) without waiting for the first.
	Skip int `yaml:"skip,omitempty" json:"skip,omitempty"`
	// Count limits the fault to Count matching requests (after Skip).
	Count int `yaml:"count,omitempty" json:"count,omitempty"`

	Latency time.Duration `yaml:"latency,omitempty" json:"latency,omitempty"`
	// Status answers with this HTTP status; Message is the reason phrase
	// and the JSON message. The body is empty for 401, for status ≥ 595
	// (pveproxy's own errors) and when EmptyBody is set.
	Status    int    `yaml:"status,omitempty" json:"status,omitempty"`
	Message   string `yaml:"message,omitempty" json:"message,omitempty"`
	EmptyBody bool   `yaml:"empty_body,omitempty" json:"empty_body,omitempty"`
	// TaskExit makes the task started by the request fail with this exit status.
	TaskExit string `yaml:"task_exit,omitempty" json:"task_exit,omitempty"`
	// TaskHang leaves the task started by the request running forever.
	TaskHang bool `yaml:"task_hang,omitempty" json:"task_hang,omitempty"`
	// Drop closes the connection without an answer. Go's transport
	// retries an idempotent request once when a reused keep-alive
	// connection is dropped, so leave Count unset (or ≥ 2) to be sure a Go
	// client sees the failure.
	Drop bool `yaml:"drop,omitempty" json:"drop,omitempty"`
}

func (f Fault) validate() error {
	if strings.HasPrefix(f.Path, "re:") {
		if _, err := regexp.Compile(strings.TrimPrefix(f.Path, "re:")); err != nil {
			return fmt.Errorf("fault path: %w", err)
		}
	} else if f.Path != "" {
		if _, err := path.Match(strings.TrimSuffix(f.Path, "/**"), "/"); err != nil {
			return fmt.Errorf("fault path %q: %w", f.Path, err)
		}
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("fault status %d is not an error status", f.Status)
	}
	if f.Latency == 0 && f.Status == 0 && f.TaskExit == "" && !f.TaskHang && !f.Drop {
		return fmt.Errorf("fault has no effect (set latency, status, task_exit, task_hang or drop)")
	}
	if f.Count < 0 {
		return fmt.Errorf("fault count %d is negative", f.Count)
	}
	if f.Skip < 0 {
		return fmt.Errorf("fault skip %d is negative", f.Skip)
	}
	return nil
}

// Faults is the set of active faults. Safe for concurrent use; faults can
// be added and removed while the server runs.
type Faults struct {
	mu     sync.Mutex
	nextID int
	active []*activeFault
}

type activeFault struct {
	id      int
	f       Fault
	re      *regexp.Regexp
	skipped int
	hits    int
}

// FaultState is an active fault with its id and how often it fired.
type FaultState struct {
	ID   int
	Hits int
	Fault
}

// Add installs a fault and returns its id.
func (fs *Faults) Add(f Fault) (int, error) {
	if err := f.validate(); err != nil {
		return 0, err
	}
	af := &activeFault{f: f}
	if strings.HasPrefix(f.Path, "re:") {
		af.re = regexp.MustCompile(strings.TrimPrefix(f.Path, "re:"))
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	af.id = fs.nextID
	fs.active = append(fs.active, af)
	return af.id, nil
}

// MustAdd is Add for tests; it panics on an invalid fault.
func (fs *Faults) MustAdd(f Fault) int {
	id, err := fs.Add(f)
	if err != nil {
		panic(err)
	}
	return id
}

// Remove removes one fault.
func (fs *Faults) Remove(id int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, af := range fs.active {
		if af.id == id {
			fs.active = append(fs.active[:i], fs.active[i+1:]...)
			return
		}
	}
}

// Clear removes every fault.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.active = nil
}

// List returns the active faults (exhausted ones included).
func (fs *Faults) List() []FaultState {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]FaultState, 0, len(fs.active))
	for _, af := range fs.active {
		out = append(out, FaultState{ID: af.id, Hits: af.hits, Fault: af.f})
	}
	return out
}

// Hits returns how many requests a fault has affected.
func (fs *Faults) Hits(id int) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, af := range fs.active {
		if af.id == id {
			return af.hits
		}
	}
	return 0
}

// taskFault is what a matched fault does to the task a request starts.
type taskFault struct {
	exit string
	hang bool
}

// match returns the combined effect of the faults matching a request,
// consuming their counts.
func (fs *Faults) match(method, p string, vmids []int) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var eff Fault
	hit := false
	for _, af := range fs.active {
		if af.f.Count > 0 && af.hits >= af.f.Count {
			continue
		}
		if !af.matches(method, p, vmids) {
			continue
		}
		if af.skipped < af.f.Skip {
			af.skipped++
			continue
		}
		af.hits++
		hit = true
		f := af.f
		eff.Latency += f.Latency
		if f.Drop {
			eff.Drop = true
		}
		if f.Status != 0 && eff.Status == 0 {
			eff.Status, eff.Message, eff.EmptyBody = f.Status, f.Message, f.EmptyBody
		}
		if f.TaskExit != "" && eff.TaskExit == "" {
			eff.TaskExit = f.TaskExit
		}
		eff.TaskHang = eff.TaskHang || f.TaskHang
	}
	return eff, hit
}

func (af *activeFault) matches(method, p string, vmids []int) bool {
	f := af.f
	if f.Method != "" && !strings.EqualFold(f.Method, method) {
		return false
	}
	if f.VMID != 0 {
		found := false
		for _, id := range vmids {
			found = found || id == f.VMID
		}
		if !found {
			return false
		}
	}
	switch {
	case af.re != nil:
		return af.re.MatchString(p)
	case f.Path == "":
		return true
	case strings.HasSuffix(f.Path, "/**"):
		prefix := strings.TrimSuffix(f.Path, "/**")
		n := strings.Count(prefix, "/")
		segs := strings.Split(p, "/")
		if len(segs) <= n {
			return false
		}
		ok, _ := path.Match(prefix, strings.Join(segs[:n+1], "/"))
		return ok
	default:
		ok, _ := path.Match(f.Path, p)
		return ok
	}
}

// ParseFault parses the CLI form of a fault: an optional method, an
// optional path pattern, then key=value options, separated by spaces
// (values may be double-quoted):
//
//	POST /nodes/*/qemu/*/clone status=500 message="clone refused" count=1
//	/nodes/*/qemu/9000/status/start task-exit="start failed"
//	GET /cluster/resources status=596 message="Connection timed out"
//	vmid=9001 task-hang
//	/version latency=2s   |   POST /nodes/*/qemu/*/template drop
func ParseFault(spec string) (Fault, error) {
	toks, err := splitFields(spec)
	if err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
	}
	var f Fault
	for i, t := range toks {
		switch {
		case i == 0 && isMethod(t):
			f.Method = t
		case strings.HasPrefix(t, "/") || strings.HasPrefix(t, "re:"):
			f.Path = t
		default:
			k, v, _ := strings.Cut(t, "=")
			if err := f.setOption(k, v); err != nil {
				return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
			}
		}
	}
	if err := f.validate(); err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", spec, err)
	}
	return f, nil
}

func (f *Fault) setOption(k, v string) error {
	var err error
	switch k {
	case "vmid":
		f.VMID, err = strconv.Atoi(v)
	case "count":
		f.Count, err = strconv.Atoi(v)
	case "skip":
		f.Skip, err = strconv.Atoi(v)
	case "latency":
		f.Latency, err = time.ParseDuration(v)
	case "status":
		f.Status, err = strconv.Atoi(v)
	case "message":
		f.Message = v
	case "empty-body":
		f.EmptyBody = true
	case "task-exit":
		f.TaskExit = v
	case "task-hang":
		f.TaskHang = true
	case "drop":
		f.Drop = true
	default:
		return fmt.Errorf("unknown option %q", k)
	}
	if err != nil {
		return fmt.Errorf("option %s: %w", k, err)
	}
	return nil
}

func isMethod(s string) bool {
	switch s {
	case "GET", "POST", "PUT", "DELETE":
		return true
	}
	return false
}

// splitFields splits on spaces, honouring double quotes with \" and \\.
func splitFields(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case inQ && ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case ch == '"':
			inQ = !inQ
			have = true
		case !inQ && (ch == ' ' || ch == '\t'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if inQ {
		return nil, fmt.Errorf("unterminated quote")
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}
