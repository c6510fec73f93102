package daemon

import "sync"

// triggers coalesces every cause of a run into one pending Trigger. Any
// number of add calls between two take calls yield exactly one run.
type triggers struct {
	mu      sync.Mutex
	pending Trigger
	has     bool
	// kick holds one token while a trigger is pending.
	kick chan struct{}
}

func newTriggers() *triggers { return &triggers{kick: make(chan struct{}, 1)} }

// add merges t into the pending trigger. It never blocks.
func (q *triggers) add(t Trigger) {
	q.mu.Lock()
	q.pending.merge(t)
	q.has = true
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// addReason adds a trigger with a single reason.
func (q *triggers) addReason(r Reason) { q.add(Trigger{Reasons: []Reason{r}}) }

// take returns the pending trigger and clears it; ok is false when nothing
// was pending (a stale kick).
func (q *triggers) take() (t Trigger, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t, ok = q.pending, q.has
	q.pending, q.has = Trigger{}, false
	return t, ok
}
