package reconcile

import (
	"fmt"
	"time"

	"templated/internal/plan"
	"templated/internal/state"
)

// planReplica decides about the replica r of template t on r's node,
// given the template's own action a: a replica holds the template's build,
// so it follows the template (built in the same run when the template
// is), is placed when missing, and is replaced when it holds another
// build. A replica on an offline node is left as it is. It never builds
// on its own: the executor copies the template's build there.
func planReplica(t state.Template, a plan.Action, r state.Replica, byVMID map[int]state.Guest, byName map[string][]state.Guest) plan.Action {
	ra := plan.Action{Template: r.Name, ReplicaOf: t.Name, VMID: r.VMID, Node: r.Node, Release: a.Release, InputsHash: a.InputsHash, Images: a.Images}
	reason := func(kind plan.Kind, code, format string, args ...any) plan.Action {
		ra.Kind = kind
		ra.Reasons = append(ra.Reasons, plan.Reason{Code: code, Message: fmt.Sprintf(format, args...)})
		return ra
	}
	g, exists := byVMID[r.VMID]
	if exists {
		ra.Current = current(g)
	}
	for _, o := range byName[r.Name] {
		if o.VMID != r.VMID {
			return reason(plan.Blocked, plan.ReasonNameElsewhere, "the name %s belongs to VMID %d; rename or remove that guest", r.Name, o.VMID)
		}
	}
	if exists {
		if g.Status == "unknown" {
			return reason(plan.Blocked, plan.ReasonNodeOffline, "node %s does not answer (its guests' status is unknown): the replica is left as it is and caught up when the node is back", r.Node)
		}
		if blocked, ok := guard(g, r.VMID, r.Name); ok {
			return reason(plan.Blocked, blocked.Code, "%s", blocked.Message)
		}
	}
	switch {
	case a.Kind == plan.Blocked:
		if exists && sameBuild(byVMID[t.VMID], g) {
			return reason(plan.Keep, plan.ReasonUpToDate, "holds the build of %s", t.Name)
		}
		return reason(plan.Blocked, plan.ReasonReplicaWaits, "%s is blocked (%s): its replica on %s stays as it is", t.Name, a.Reasons[0].Code, r.Node)
	case a.Kind.Changes() && !exists:
		return reason(plan.Create, plan.ReasonReplicaFollows, "%s is built now; a copy of the build is placed on %s", t.Name, r.Node)
	case a.Kind.Changes():
		return reason(plan.Rebuild, plan.ReasonReplicaFollows, "%s is built now; the copy on %s follows", t.Name, r.Node)
	case !exists:
		return reason(plan.Create, plan.ReasonReplicaMissing, "no replica of %s at VMID %d on %s", t.Name, r.VMID, r.Node)
	case !sameBuild(byVMID[t.VMID], g):
		rs, _ := state.StampFromTags(g.Tags)
		ts, _ := state.StampFromTags(byVMID[t.VMID].Tags)
		return reason(plan.Rebuild, plan.ReasonReplicaOutdated, "holds the build of %s, %s holds the build of %s", stampTime(rs), t.Name, stampTime(ts))
	}
	return reason(plan.Keep, plan.ReasonUpToDate, "holds the build of %s (release %s)", t.Name, a.Release)
}

// guard blocks what templated will not replace at a replica's VMID:
// a container, a plain VM, a locked guest, a template it does not manage or
// one of another name.
func guard(g state.Guest, vmid int, name string) (plan.Reason, bool) {
	s, owned := state.StampFromTags(g.Tags)
	switch {
	case !g.IsQEMU():
		return plan.Reason{Code: plan.ReasonContainer, Message: fmt.Sprintf("VMID %d holds an LXC container (%s); templated will not touch it", vmid, displayName(g))}, true
	case g.Lock != "":
		return plan.Reason{Code: plan.ReasonLocked, Message: fmt.Sprintf("VMID %d is locked (%s); the next run will look again", vmid, g.Lock)}, true
	case !g.Template:
		return plan.Reason{Code: plan.ReasonPlainVM, Message: fmt.Sprintf("VMID %d holds a plain VM (%s), not a template", vmid, displayName(g))}, true
	case !owned:
		return plan.Reason{Code: plan.ReasonUnmanaged, Message: fmt.Sprintf("VMID %d holds a template templated does not manage (%s)", vmid, displayName(g))}, true
	case g.Name != name || (s.Template != "" && s.Template != name):
		return plan.Reason{Code: plan.ReasonOtherName, Message: fmt.Sprintf("VMID %d holds %s, not the replica %s", vmid, displayName(g), name)}, true
	}
	return plan.Reason{}, false
}

// sameBuild reports whether two stamped guests hold one build: the build
// time, inputs and images their tags carry.
func sameBuild(a, b state.Guest) bool {
	sa, oka := state.StampFromTags(a.Tags)
	sb, okb := state.StampFromTags(b.Tags)
	return oka && okb && !sa.BuiltAt.IsZero() && sa.BuiltAt.Equal(sb.BuiltAt) &&
		short(sa.InputsHash) == short(sb.InputsHash) && sameImages(sa, sb)
}

func sameImages(a, b state.Stamp) bool {
	if len(a.Images) != len(b.Images) {
		return false
	}
	for _, c := range a.Images {
		if !b.HasImage(c) {
			return false
		}
	}
	return true
}

func stampTime(s state.Stamp) string {
	if s.BuiltAt.IsZero() {
		return "an unknown time"
	}
	return s.BuiltAt.UTC().Format(time.RFC3339)
}
