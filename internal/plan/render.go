package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// TextOptions shape the human rendering.
type TextOptions struct {
	Color bool // ANSI colours (off when NO_COLOR is set or not a terminal)
	// Verbose lists unchanged templates with their reasons instead of
	// summarising them on one line.
	Verbose bool
}

const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

// symbols are Terraform's: + create, -/+ replace, ! cannot act.
var symbols = map[Kind]string{Create: "+", Rebuild: "-/+", Blocked: "!", Keep: "="}

// WriteText renders p for a person.
func WriteText(w io.Writer, p Plan, o TextOptions) error {
	c := func(code, s string) string {
		if !o.Color {
			return s
		}
		return code + s + reset
	}
	colour := map[Kind]string{Create: green, Rebuild: yellow, Blocked: red, Keep: dim}
	verb := map[Kind]string{Create: "will be created", Rebuild: "will be rebuilt and swapped in", Blocked: "is blocked: templated will not act", Keep: "is up to date"}
	var b strings.Builder
	writeImages(&b, p, o, c)
	var kept []string
	for _, a := range p.Actions {
		if a.Kind == Keep && !o.Verbose {
			kept = append(kept, fmt.Sprintf("%s (%d)", a.Template, a.VMID))
			continue
		}
		v, what, head := verb[a.Kind], "build:", fmt.Sprintf("%s (%d)", a.Template, a.VMID)
		if a.ReplicaOf != "" {
			v, what, head = replicaVerb[a.Kind], "copy of "+a.ReplicaOf+":", fmt.Sprintf("%s (%d on %s)", a.Template, a.VMID, a.Node)
			if v == "" {
				v = verb[a.Kind]
			}
		}
		fmt.Fprintf(&b, "  %s %s %s\n", c(colour[a.Kind], fmt.Sprintf("%3s", symbols[a.Kind])), c(bold, head), v)
		for _, r := range a.Reasons {
			fmt.Fprintf(&b, "        %s %s\n", c(dim, r.Code+":"), r.Message)
		}
		if a.Kind.Changes() && a.Release != "" {
			fmt.Fprintf(&b, "        %s release %s, inputs %s\n", c(dim, what), a.Release, shortHash(a.InputsHash))
		}
	}
	if len(kept) > 0 {
		fmt.Fprintf(&b, "  %s %d unchanged: %s\n", c(dim, "  ="), len(kept), strings.Join(kept, ", "))
	}
	writeClones(&b, p, o)
	if len(p.Unmanaged) > 0 {
		b.WriteString("\n  Guests in the reserved template range that the desired file does not name (never touched):\n")
		for _, u := range p.Unmanaged {
			kind := "VM"
			if u.Template {
				kind = "template"
			}
			if u.Type == "lxc" {
				kind = "container"
			}
			fmt.Fprintf(&b, "    %d %s (%s): %s\n", u.VMID, u.Name, kind, u.Note)
		}
	}
	s := p.Summary
	fmt.Fprintf(&b, "\n%s %d to create, %d to rebuild, %d unchanged, %d blocked.\n", c(bold, "Plan:"), s.Create, s.Rebuild, s.Keep, s.Blocked)
	if !p.HasChanges() && s.Blocked == 0 {
		b.WriteString("No changes. Templates match the desired state.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// replicaVerb says what happens to a replica: it is never built, but
// gets a copy of its template's build.
var replicaVerb = map[Kind]string{Create: "will be placed: a copy of the template's build", Rebuild: "will be replaced by a copy of the template's build"}

// writeClones tells, for information, which templates have clones of
// older builds (verbose: every template with clones). templated never
// touches a clone; `templated clones` lists them.
func writeClones(b *strings.Builder, p Plan, o TextOptions) {
	var lines []string
	for _, a := range p.Actions {
		cl := a.Clones
		if cl == nil || (cl.Outdated == 0 && !o.Verbose) {
			continue
		}
		line := fmt.Sprintf("    %s (%d): %d from the current build, %d from older builds", a.Template, a.VMID, cl.Current, cl.Outdated)
		if cl.Outdated > 0 && cl.Oldest != "" {
			line += fmt.Sprintf(" (oldest: release %s, %s behind)", cl.Oldest, days(cl.BehindSeconds))
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		b.WriteString("\n  Clones (information only; `templated clones --outdated` lists them):\n")
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
}

// days prints seconds as whole days ("35 days"), or hours under two days.
func days(sec float64) string {
	switch h := int(sec / 3600); {
	case h >= 48:
		return fmt.Sprintf("%d days", h/24)
	case h == 1:
		return "1 hour"
	default:
		return fmt.Sprintf("%d hours", h)
	}
}

// writeImages lists the images the plan acts on before the templates built
// from them: a new digest that builds will use (+), and an image that
// could not be resolved while builds wait for it (!). Verbose lists every
// image.
func writeImages(b *strings.Builder, p Plan, o TextOptions, c func(code, s string) string) {
	vmid := map[string]int{}
	waiting := map[string][]string{} // image → blocked builds waiting for it
	for _, a := range p.Actions {
		vmid[a.Template] = a.VMID
		if a.Kind != Blocked || !hasReason(a, ReasonImageUnresolved) {
			continue
		}
		for _, u := range a.Images {
			if u.Checksum == "" {
				waiting[u.Name] = append(waiting[u.Name], fmt.Sprintf("%s (%d)", a.Template, a.VMID))
			}
		}
	}
	line := func(colour, sym, head string) {
		fmt.Fprintf(b, "  %s %s\n", c(colour, fmt.Sprintf("%3s", sym)), head)
	}
	detail := func(label string, items []string) {
		if len(items) > 0 {
			fmt.Fprintf(b, "        %s %s\n", c(dim, label+":"), strings.Join(items, ", "))
		}
	}
	for _, im := range p.Images {
		var users []string
		for _, t := range im.Templates {
			users = append(users, fmt.Sprintf("%s (%d)", t, vmid[t]))
		}
		switch {
		case im.Error != "":
			if len(waiting[im.Name]) == 0 && !o.Verbose {
				continue
			}
			line(red, "!", fmt.Sprintf("%s: %s", c(bold, "image "+im.Name), im.Error))
			detail("blocks", waiting[im.Name])
		case im.New && len(users) > 0:
			line(green, "+", fmt.Sprintf("%s %s %s", c(bold, "image "+im.Name), im.File, ShortChecksum(im.Checksum)))
			detail("used by", users)
		case o.Verbose:
			note := ""
			if im.New {
				note = " (new; no build uses it yet)"
			}
			line(dim, "=", fmt.Sprintf("%s %s %s%s", c(bold, "image "+im.Name), im.File, ShortChecksum(im.Checksum), note))
			detail("used by", users)
		}
	}
}

func hasReason(a Action, code string) bool {
	for _, r := range a.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// WriteJSON renders p as indented JSON (the documented format).
func WriteJSON(w io.Writer, p Plan) error {
	if p.Actions == nil {
		p.Actions = []Action{}
	}
	if p.Images == nil {
		p.Images = []ImageAction{}
	}
	if p.Unmanaged == nil {
		p.Unmanaged = []Unmanaged{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

// ShortChecksum shortens an image checksum for people: the algorithm and
// the digest's first 12 hex, then "…" ("sha256:3f1c2e44a1b2…"); a digest
// read from a tag, which has no algorithm, stays without one.
func ShortChecksum(c string) string {
	if c == "" {
		return ""
	}
	alg, hex, ok := strings.Cut(c, ":")
	if !ok {
		alg, hex = "", c
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	if alg == "" {
		return hex + "…"
	}
	return alg + ":" + hex + "…"
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
