package doctor

import (
	"fmt"
	"strconv"
	"strings"
)

// Evaluate runs every check over s. It does no I/O: the same snapshot
// gives the same results.
func Evaluate(s *Snapshot) []Result {
	var out []Result
	out = append(out, connChecks(s)...)
	if s.API != nil && apiUsable(s.API) {
		out = append(out, privilegeChecks(s)...)
		out = append(out, nodeChecks(s)...)
		out = append(out, storageChecks(s)...)
		out = append(out, isoCheck(s), cloneCheck(s), foreignCheck(s), nextIDCheck(s))
		out = append(out, clockChecks(s)...)
	}
	out = append(out, localChecks(s)...)
	return out
}

// apiUsable: the API answered /version, so the cluster checks mean
// something.
func apiUsable(a *API) bool { return a.VersionErr == nil }

// major is the PVE major version (0 when unknown).
func major(v string) int {
	head, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(head)
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
