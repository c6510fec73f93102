package packer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/go-version"
)

// maxInfoLines bounds what Version and PluginVersions read.
const maxInfoLines = 4096

// Version returns Packer's version without the "v" ("1.11.2"), from
// `packer version -machine-readable`.
func (r *Runner) Version(ctx context.Context) (string, error) {
	lines, err := r.info(ctx, "version", "-machine-readable")
	if err != nil {
		return "", fmt.Errorf("packer version: %w", err)
	}
	for _, l := range lines {
		if m, ok := parseMachine(l); ok && m.Type == "version" && len(m.Data) > 0 && m.Data[0] != "" {
			return m.Data[0], nil
		}
	}
	for _, l := range lines { // the human form: "Packer v1.11.2"
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Packer v"); ok && v != "" {
			return strings.Fields(v)[0], nil
		}
	}
	return "", errors.New("packer version: no version in output")
}

// Plugin is an installed Packer plugin binary.
type Plugin struct {
	Source     string // "github.com/hashicorp/proxmox"
	Name       string // "proxmox"
	Version    string // "1.1.1"
	APIVersion string // plugin protocol, "5.0"
	Path       string
}

// pluginFile matches installed plugin binaries:
// packer-plugin-proxmox_v1.1.1_x5.0_linux_amd64 (plugingetter's layout).
var pluginFile = regexp.MustCompile(`^packer-plugin-([a-zA-Z0-9-]+)_v([^_]+)_x([0-9.]+)_[a-z0-9]+_[a-z0-9]+(\.exe)?$`)

// PluginVersions lists the installed plugins, from `packer plugins
// installed` (which honours PACKER_PLUGIN_PATH in the Runner's environment).
func (r *Runner) PluginVersions(ctx context.Context) ([]Plugin, error) {
	lines, err := r.info(ctx, "plugins", "installed")
	if err != nil {
		return nil, fmt.Errorf("packer plugins installed: %w", err)
	}
	var out []Plugin
	for _, l := range lines {
		if m, ok := parseMachine(l); ok {
			if l, _, ok = m.uiText(); !ok {
				continue
			}
		}
		path := strings.TrimSpace(l)
		sm := pluginFile.FindStringSubmatch(filepath.Base(path))
		if sm == nil {
			continue
		}
		p := Plugin{Name: sm[1], Version: sm[2], APIVersion: sm[3], Path: path}
		if parts := strings.Split(filepath.ToSlash(filepath.Dir(path)), "/"); len(parts) >= 3 {
			p.Source = strings.Join(parts[len(parts)-3:], "/")
		}
		out = append(out, p)
	}
	return out, nil
}

// info runs a short Packer command and returns its output lines.
func (r *Runner) info(ctx context.Context, args ...string) ([]string, error) {
	var lines []string
	ex, err := r.run(ctx, invocation{
		args: args,
		env:  r.env(nil, "CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1"),
		onLine: func(b []byte) {
			if len(lines) < maxInfoLines {
				lines = append(lines, strings.TrimRight(string(b), "\r\n"))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", r.packer(), err)
	}
	if ex.code != 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("exit code %d: %s", ex.code, strings.Join(lastN(lines, 3), " | "))
	}
	return lines, nil
}

// Newest returns the plugin of source with the highest version: the one
// Packer uses for a required_plugins constraint without an upper bound.
// Versions that do not parse are ignored.
func Newest(plugins []Plugin, source string) (Plugin, bool) {
	var best Plugin
	var bestV *version.Version
	for _, p := range plugins {
		if p.Source != source {
			continue
		}
		v, err := version.NewVersion(p.Version)
		if err != nil {
			continue
		}
		if bestV == nil || v.GreaterThan(bestV) {
			best, bestV = p, v
		}
	}
	return best, bestV != nil
}
