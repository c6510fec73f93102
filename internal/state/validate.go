package state

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// crossCheck finds problems between templates: duplicate names and VMIDs,
// VMIDs outside the template range, too few VMIDs for previous versions.
func (p *parser) crossCheck(rs ranges, entries []*entry) {
	names := map[string]*entry{}
	vmids := map[int]*entry{}
	templates, previous := rs.r[rangeTemplates], rs.r[rangePrevious]
	keep, replicas := 0, false
	for _, e := range entries {
		if e.name != nil {
			if first, dup := names[e.t.Name]; dup {
				p.addf(e.name, e.path+".name", "%s is already used by %s (line %d)", e.t.Name, first.path, first.t.Line)
			} else {
				names[e.t.Name] = e
			}
		}
		if e.vmid != nil {
			if first, dup := vmids[e.t.VMID]; dup {
				p.addf(e.vmid, e.path+".vmid", "%d is already used by %s", e.t.VMID, first.label())
			} else {
				vmids[e.t.VMID] = e
			}
			if templates.ok && !templates.Contains(e.t.VMID) {
				p.addf(e.vmid, e.path+".vmid", "%d is outside vmids.templates (%s)", e.t.VMID, templates.Range)
			}
		}
		// A replica keeps its previous versions as its template does.
		keep += e.t.KeepPrevious * (1 + len(e.replicas))
		replicas = replicas || len(e.replicas) > 0
	}
	if previous.ok && keep > previous.Len() {
		across := "all templates"
		if replicas {
			across += " and their replicas"
		}
		p.addf(previous.at, previous.key, "%s holds %d VMIDs, but keep_previous asks for %d across %s",
			previous.Range, previous.Len(), keep, across)
	}
}

// label names e in messages: its name when valid, else its position.
func (e *entry) label() string {
	if e.name != nil {
		return e.t.Name
	}
	return e.path
}

var (
	// pveGuestName is Proxmox's dns-name format.
	pveGuestName    = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$`)
	packerPath      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$`)
	osSyntax        = regexp.MustCompile(`^[a-z][a-z0-9]{0,31}$`)
	osVersionSyntax = regexp.MustCompile(`^[a-z0-9]{1,16}(\.[a-z0-9]{1,16}){0,3}$`)
)

// MaxNameLen is the longest template name accepted.
const MaxNameLen = 128

// Descriptions of the OS formats, for messages.
const (
	osFormat        = "an OS name (lower-case letters and digits, starting with a letter, e.g. ubuntu)"
	osVersionFormat = `an OS version (lower-case letters and digits, dot-separated, e.g. "22.04")`
)

// checkName checks a template name on its own: a Proxmox guest name in
// lower case that starts with "tpl-".
func checkName(s string) error {
	switch {
	case len(s) > MaxNameLen || !pveGuestName.MatchString(s):
		return fmt.Errorf("%s is not a valid Proxmox guest name (letters, digits and hyphens in dot-separated labels, at most %d characters)", quote(s), MaxNameLen)
	case s != strings.ToLower(s):
		return fmt.Errorf("%s must be lower case", quote(s))
	case !strings.HasPrefix(s, "tpl-"):
		return fmt.Errorf("%s does not follow the naming convention tpl-<os>-<os_version>", quote(s))
	}
	return nil
}

// nameMatches checks that name is tpl-<os>-<os_version>. The OS may be
// shortened to its first three or more letters, and the hyphen dropped
// before a version that starts with a digit: tpl-win2022 for os windows,
// os_version 2022.
func nameMatches(name, osName, ver string) error {
	want := "tpl-" + osName + "-" + ver
	if name == want {
		return nil
	}
	if short, ok := strings.CutSuffix(strings.TrimPrefix(name, "tpl-"), ver); ok {
		dashless := !strings.HasSuffix(short, "-")
		short = strings.TrimSuffix(short, "-")
		letterBeforeDigit := short != "" && short[len(short)-1] >= 'a' && short[len(short)-1] <= 'z' && ver[0] >= '0' && ver[0] <= '9'
		if len(short) >= 3 && strings.HasPrefix(osName, short) && (!dashless || letterBeforeDigit) {
			return nil
		}
	}
	return fmt.Errorf("%s does not match os %s and os_version %s: name it %s", quote(name), quote(osName), quote(ver), want)
}

// sharedDir is the workspace directory every build shares; it is no
// template's OS directory (packer/README.md).
const sharedDir = "shared"

// checkVarFile checks a template's var file: a path as checkPackerPath
// wants it, directly in the template's packer directory (dir, "" when that
// is invalid), where the build directory is assembled from (packer/README.md).
// dirField names the packer key in messages.
func (p *parser) checkVarFile(s, dir, dirField string) error {
	if err := checkPackerSyntax(s, false); err != nil {
		return err
	}
	if dir != "" && path.Dir(s) != dir {
		return fmt.Errorf("%s is not in %s (%s): a var file sits directly in its template's packer directory, e.g. %s",
			quote(s), dirField, dir, path.Join(dir, clip(path.Base(s))))
	}
	return p.checkPackerExists(s, false)
}

// checkPackerPath checks a template's packer directory: a clean relative
// path inside the Packer workspace, not in shared/, that exists there.
func (p *parser) checkPackerPath(s string) error {
	if err := checkPackerSyntax(s, true); err != nil {
		return err
	}
	if s == sharedDir || strings.HasPrefix(s, sharedDir+"/") {
		return fmt.Errorf("%s is inside %s/, which every build shares; name the template's OS directory, e.g. linux/ubuntu", quote(s), sharedDir)
	}
	return p.checkPackerExists(s, true)
}

// checkPackerSyntax checks a packer directory (dir) or var file path on
// its own.
func checkPackerSyntax(s string, dir bool) error {
	what := "var file"
	if dir {
		what = "directory"
	}
	switch {
	case s == "":
		return fmt.Errorf("must name a %s under the packer workspace", what)
	case strings.Contains(s, `\`):
		return fmt.Errorf("%s: use forward slashes", quote(s))
	case path.IsAbs(s) || filepath.IsAbs(s):
		return fmt.Errorf("%s must be relative to the packer workspace", quote(s))
	case slices.Contains(strings.Split(s, "/"), ".."):
		return fmt.Errorf("%s escapes the packer workspace", quote(s))
	case path.Clean(s) != s || s == ".":
		return fmt.Errorf("%s is not a clean path; write %s", quote(s), quote(path.Clean(s)))
	case !packerPath.MatchString(s):
		return fmt.Errorf("%s: path segments take letters, digits, '_', '.', '+' and '-' and do not start with '.'", quote(s))
	case !dir && !strings.HasSuffix(s, ".pkrvars.hcl"):
		return fmt.Errorf("%s is not a var file (*.pkrvars.hcl)", quote(s))
	}
	return nil
}

// checkPackerExists asks the workspace, when there is one, whether the
// directory (dir) or var file s exists and is what it should be.
func (p *parser) checkPackerExists(s string, dir bool) error {
	what := "var file"
	if dir {
		what = "directory"
	}
	if p.workspace == nil {
		return nil
	}
	full := filepath.Join(p.packerRoot, filepath.FromSlash(s))
	fi, err := p.workspace.Stat(s)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s does not exist", what, full)
	case errors.Is(err, ErrOutsideWorkspace):
		return fmt.Errorf("%s %w", full, ErrOutsideWorkspace)
	case err != nil:
		return fmt.Errorf("%s %s: %w", what, full, err)
	case dir && !fi.IsDir():
		return fmt.Errorf("%s is not a directory", full)
	case !dir && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", full)
	}
	return nil
}
