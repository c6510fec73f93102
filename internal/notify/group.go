package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"templated/internal/atomicfile"
	"templated/internal/state"
)

// group is a family of identical events: what was last sent, and how
// many were held back since.
type group struct {
	Kind     string    `json:"kind"`
	Template string    `json:"template,omitempty"`
	LastSent time.Time `json:"last_sent"`
	Held     int       `json:"held,omitempty"`
}

// maxGroups bounds the grouping state: the oldest go first.
const maxGroups = 10000

// groups is the grouping state, kept in one file so that a restart does
// not send again what was just sent. Counts of held events are written
// with the next change, not on every held event.
type groups struct {
	path string
	m    map[string]*group
}

// loadGroups reads the grouping state at path (none yet is empty).
func loadGroups(path string) (*groups, error) {
	g := &groups{path: path, m: map[string]*group{}}
	data, _, err := atomicfile.ReadRegular(path, 16<<20)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return g, nil
	case err != nil:
		return nil, fmt.Errorf("grouping state: %w", err)
	}
	if err := json.Unmarshal(data, &g.m); err != nil {
		return nil, fmt.Errorf("grouping state %s: %w", path, err)
	}
	return g, nil
}

func (g *groups) save() error {
	data, err := json.Marshal(g.m)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(g.path, data, 0o600); err != nil {
		return fmt.Errorf("grouping state: %w", err)
	}
	return nil
}

// groupKey names e's family: kind, template, release, reason and nodes;
// not the build id, message or time, which change on every run.
func groupKey(e Event) string {
	return strings.Join([]string{e.Kind, e.Template, e.Release, e.Reason, strings.Join(e.Nodes, ",")}, "\x00")
}

// decide says whether e goes out at now, and whether the state changed
// (to be saved). An identical event sent less than repeat ago is held
// back; one sent longer ago goes out again with the count held since. A
// build.succeeded always goes out and ends every family of its template;
// it is a recovery (e.Recovery) when one of them was a failed build. Test
// events are never grouped.
func (g *groups) decide(e *Event, now time.Time, repeat time.Duration) (send, changed bool) {
	switch e.Kind {
	case state.NotifyTest:
		return true, false
	case state.NotifyBuildSucceeded:
		for k, gr := range g.m {
			if e.Template != "" && gr.Template == e.Template {
				e.Recovery = e.Recovery || gr.Kind == state.NotifyBuildFailed
				delete(g.m, k)
				changed = true
			}
		}
		return true, changed
	}
	key := groupKey(*e)
	gr, ok := g.m[key]
	if ok && now.Sub(gr.LastSent) < repeat {
		gr.Held++
		return false, false
	}
	if ok {
		e.Repeats = gr.Held
	}
	g.m[key] = &group{Kind: e.Kind, Template: e.Template, LastSent: now}
	g.prune(now, repeat)
	return true, true
}

// prune forgets families sent more than two repeat intervals ago (one
// that goes on is sent again before that), except failed builds (a later
// success is their recovery), and keeps at most maxGroups.
func (g *groups) prune(now time.Time, repeat time.Duration) {
	maps.DeleteFunc(g.m, func(_ string, gr *group) bool {
		return gr.Kind != state.NotifyBuildFailed && now.Sub(gr.LastSent) >= 2*repeat
	})
	if len(g.m) <= maxGroups {
		return
	}
	keys := slices.SortedFunc(maps.Keys(g.m), func(a, b string) int { return g.m[a].LastSent.Compare(g.m[b].LastSent) })
	for _, k := range keys[:len(keys)-maxGroups] {
		delete(g.m, k)
	}
}
