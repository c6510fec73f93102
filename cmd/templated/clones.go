package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"templated/internal/ancestry"
	"templated/internal/session"
	"templated/internal/state"
)

// clonesFormatVersion is the version of `templated clones --json`
// (docs/clones-json.md).
const clonesFormatVersion = "1.0"

// clonesDoc is what `templated clones --json` prints.
type clonesDoc struct {
	FormatVersion string             `json:"format_version"`
	TracedAt      time.Time          `json:"traced_at"`
	OutdatedOnly  bool               `json:"outdated_only"`
	Templates     []ancestry.Lineage `json:"templates"`
}

func runClones(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("clones", env.Stderr)
	c.register(fs, env)
	outdated := fs.Bool("outdated", false, "list only the guests cloned from older builds (and linked clones whose stamp is gone)")
	asJSON := fs.Bool("json", false, "print JSON (docs/clones-json.md)")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(names) > 1 {
		return &usageError{msg: fmt.Sprintf("clones: unexpected argument %q (one template NAME at most)", names[1])}
	}
	d, err := c.loadDesired("")
	if err != nil {
		return err
	}
	var name string
	if len(names) == 1 {
		name = names[0]
	}
	if name != "" {
		if _, ok := d.Template(name); !ok {
			return &usageError{msg: fmt.Sprintf("clones: no template %q in %s (known: %s)", name, c.desired, strings.Join(templateNames(d), ", "))}
		}
	}
	set, err := c.settings()
	if err != nil {
		return err
	}
	sess, err := session.OpenReader(set) // reads only: no state lock
	if err != nil {
		return err
	}
	// Every desired template is traced, so that a guest at another
	// template's reserved VMID or in templated's ranges is never taken
	// for a clone; NAME only narrows what is printed.
	ls, err := sess.Clones(ctx, d)
	if err != nil {
		return err
	}
	doc := clonesDoc{FormatVersion: clonesFormatVersion, TracedAt: time.Now().UTC(), OutdatedOnly: *outdated,
		Templates: selectLineages(ls, name, *outdated)}
	if *asJSON {
		return writeClonesJSON(env.Stdout, doc)
	}
	return writeClones(env.Stdout, doc)
}

// parseInterspersed parses flags before and after the positional
// arguments, so that both `clones NAME --outdated` and `clones --outdated
// NAME` work (flag stops at the first argument), and returns those.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func templateNames(d *state.Desired) []string {
	out := make([]string, len(d.Templates))
	for i, t := range d.Templates {
		out[i] = t.Name
	}
	return out
}

// selectLineages keeps the template called name (all when empty) and,
// with outdated, only the outdated and unstamped clones.
func selectLineages(ls []ancestry.Lineage, name string, outdated bool) []ancestry.Lineage {
	out := []ancestry.Lineage{}
	for _, l := range ls {
		if name != "" && l.Template != name {
			continue
		}
		if outdated {
			l.Clones = []ancestry.Clone{}
		}
		out = append(out, l)
	}
	return out
}

func writeClonesJSON(w io.Writer, doc clonesDoc) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// writeClones prints, per template, its current build and a table of its
// clones: current ones, outdated ones (oldest build first), then linked
// clones whose stamp is gone.
func writeClones(w io.Writer, doc clonesDoc) error {
	for i, l := range doc.Templates {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s (%d): %s; %s\n", l.Template, l.VMID, currentBuild(l.Current), cloneSummary(l, doc.OutdatedOnly))
		if len(l.Clones)+len(l.Outdated)+len(l.Unstamped) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  VMID\tNAME\tNODE\tRELEASE\tBUILT\tBUILD\tLINKED")
		for _, c := range l.Clones {
			cloneRow(tw, c, "current")
		}
		for _, c := range l.Outdated {
			cloneRow(tw, c, behind(c, l.Current))
		}
		for _, c := range l.Unstamped {
			cloneRow(tw, c, "unstamped (linked clone, stamp gone)")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(doc.Templates) == 0 {
		fmt.Fprintln(w, "no desired templates")
	}
	return nil
}

func cloneRow(w io.Writer, c ancestry.Clone, build string) {
	release, built := "-", "-"
	if c.Build.Release != "" {
		release = c.Build.Release
	}
	if !c.Build.BuiltAt.IsZero() {
		built = c.Build.BuiltAt.UTC().Format("2006-01-02 15:04 MST")
	}
	linked := "-"
	if c.Linked {
		linked = "linked"
	}
	fmt.Fprintf(w, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.VMID, dash(c.Name), dash(c.Node), release, built, build, linked)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// currentBuild names the build at the template's VMID.
func currentBuild(b *ancestry.Build) string {
	if b == nil {
		return "no build of templated's at its VMID"
	}
	s := "current build " + dash(b.Release)
	if !b.BuiltAt.IsZero() {
		s += " of " + b.BuiltAt.UTC().Format("2006-01-02 15:04 MST")
	}
	return s
}

// cloneSummary is "2 current, 3 outdated, 1 unstamped" ("no clones").
func cloneSummary(l ancestry.Lineage, outdatedOnly bool) string {
	var parts []string
	if !outdatedOnly && len(l.Clones) > 0 {
		parts = append(parts, fmt.Sprintf("%d current", len(l.Clones)))
	}
	if len(l.Outdated) > 0 {
		parts = append(parts, fmt.Sprintf("%d outdated", len(l.Outdated)))
	}
	if len(l.Unstamped) > 0 {
		parts = append(parts, fmt.Sprintf("%d unstamped", len(l.Unstamped)))
	}
	switch {
	case len(parts) > 0:
		return strings.Join(parts, ", ")
	case outdatedOnly:
		return "no outdated clones"
	}
	return "no clones"
}

// behind says how far an outdated clone's build is behind the current
// one: "35 days behind", "5 hours behind"; a build newer than the current
// one (the template was rolled back) is "3 days ahead".
func behind(c ancestry.Clone, current *ancestry.Build) string {
	switch {
	case current == nil:
		return "outdated (no current build)"
	case c.Build.BuiltAt.IsZero() || current.BuiltAt.IsZero():
		return "outdated"
	}
	d := current.BuiltAt.Sub(c.Build.BuiltAt)
	word := "behind"
	if d < 0 {
		d, word = -d, "ahead"
	}
	switch {
	case d >= 24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " " + word
	case d >= time.Hour:
		return plural(int(d/time.Hour), "hour") + " " + word
	case d >= time.Minute:
		return plural(int(d/time.Minute), "minute") + " " + word
	}
	return "outdated (another build of the same time)"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
