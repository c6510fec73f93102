package doctor

import (
	"fmt"
	"time"
)

// Clock skew bounds: above warnSkew doctor warns, above failSkew it fails.
const (
	warnSkew = 30 * time.Second
	failSkew = 5 * time.Minute
)

// clockChecks compare each template node's clock with the control node's.
func clockChecks(s *Snapshot) []Result {
	var out []Result
	for _, name := range templateNodes(s) {
		n := s.API.Nodes[name]
		if n == nil {
			continue
		}
		id, title := "clock."+name, "clock of "+name
		if n.TimeErr != nil {
			out = append(out, warn(id, title, "could not read the node's time: "+n.TimeErr.Msg, fixFor(n.TimeErr, name)))
			continue
		}
		skew := n.Time.Sub(n.Asked)
		abs := skew.Abs()
		// The node answers in whole seconds: say it to the nearest 10 s.
		shown := abs.Round(10 * time.Second).String()
		dir := "ahead of"
		if skew < 0 {
			dir = "behind"
		}
		why := "the cluster lease's expiry is compared across clocks, and a skewed clock makes TLS certificates look not yet valid or expired"
		fix := fmt.Sprintf("run NTP on %s and on this machine (`timedatectl set-ntp true`; chrony), then check `timedatectl` on both", name)
		switch {
		case abs > failSkew:
			out = append(out, fail(id, title, fmt.Sprintf("%s's clock is about %s %s this machine's (more than %s): %s", name, shown, dir, failSkew, why), fix))
		case abs > warnSkew:
			out = append(out, warn(id, title, fmt.Sprintf("%s's clock is about %s %s this machine's (more than %s): %s", name, shown, dir, warnSkew, why), fix))
		default:
			out = append(out, pass(id, title, fmt.Sprintf("within %s of this machine's", warnSkew)))
		}
	}
	return out
}
