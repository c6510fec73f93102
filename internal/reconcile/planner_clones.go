package reconcile

import (
	"time"

	"templated/internal/ancestry"
	"templated/internal/plan"
	"templated/internal/state"
)

// cloneCounts counts, per desired template, the guests cloned from its
// current build and from older builds (ancestry.Trace over the same guest
// list: no request of its own). It is information for the plan; no action
// ever depends on it.
func cloneCounts(d *state.Desired, obs state.Observed, now time.Time) map[string]*plan.Clones {
	out := map[string]*plan.Clones{}
	for _, l := range ancestry.Trace(d, obs.Guests, obs.LinkedClones, now) {
		if len(l.Clones)+len(l.Outdated) == 0 {
			continue
		}
		c := &plan.Clones{Current: len(l.Clones), Outdated: len(l.Outdated)}
		for i, o := range l.Outdated {
			if c.OutdatedByAge == nil {
				c.OutdatedByAge = map[string]int{}
			}
			c.OutdatedByAge[AgeBucket(o.Age)]++
			if i == 0 { // oldest first
				c.Oldest, c.BehindSeconds = o.Build.Release, o.Behind.Seconds()
			}
		}
		out[l.Template] = c
	}
	return out
}

// Age buckets of outdated clones (by the age of the build they came
// from), for the plan and the metrics: a fixed set, so that the metrics'
// cardinality stays per template.
var AgeBuckets = []string{"lt_30d", "30d_90d", "90d_365d", "gt_365d"}

// AgeBucket is the bucket of a build age.
func AgeBucket(age time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case age < 30*day:
		return AgeBuckets[0]
	case age < 90*day:
		return AgeBuckets[1]
	case age < 365*day:
		return AgeBuckets[2]
	}
	return AgeBuckets[3]
}
