// Package builder owns one template build with Packer: it assembles the
// template's build directory from the workspace, hands Packer the
// variables templated sets (the staging VMID, names, hardware, manifest
// path) on the command line and the secrets (the API token, the build
// password) in the environment, runs it, and reads back the manifest. For
// an ISO build whose OS directory has installer answer files for a CD
// (cd/*.pkrtpl, Windows' Autounattend.xml) it renders them, makes the CD
// with xorriso, uploads it through the Proxmox API and gives Packer its
// volume (answer_iso), deleting it again after the build: packer-plugin-
// proxmox v1.1.1 cannot upload it itself without breaking every request
// after the upload (packer-plugin-proxmox#150). The plugin generation
// follows the installed plugin (workspace.PluginGeneration); generation
// v1.2 has Packer make the CD (cd_content). It implements
// reconcile.Builder.
package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sirupsen/logrus"

	"templated/internal/packer"
	"templated/internal/reconcile"
	"templated/internal/workspace"
)

// Packer builds templates with the real Packer.
type Packer struct {
	// Runner runs the packer binary.
	Runner *packer.Runner
	// Root is the workspace (packer/).
	Root string
	// Conn is how Packer reaches Proxmox; its secret goes only into
	// Packer's environment.
	Conn workspace.Conn
	// ISOStore uploads and deletes the answer CD of ISO builds that have
	// one (a *proxmox.Client). When nil, Packer makes and uploads the CD
	// itself (cd_content), which needs packer-plugin-proxmox 1.1.2 or
	// later.
	ISOStore ISOStore
	// Communicator overrides the var files' communicator ("none" against
	// the simulator, where no guest boots); "" keeps them.
	Communicator string
	// WorkDir holds the assembled build directories (a temporary
	// directory when empty); each build's is removed afterwards.
	WorkDir string
	// PackerVersion is recorded in results.
	PackerVersion string
	// Plugin is the packer-plugin-proxmox version to build for, which
	// picks the plugin generation; when empty, each build asks Runner
	// (`packer plugins installed`) and takes the newest.
	Plugin string
	// Log receives the answer CD's upload and cleanup (nil: discard).
	Log logrus.FieldLogger
}

var _ reconcile.Builder = (*Packer)(nil)

var discard = func() *logrus.Logger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}()

func (p *Packer) log() logrus.FieldLogger {
	if p.Log == nil {
		return discard
	}
	return p.Log
}

// Build assembles the build directory, uploads the answer CD if the
// template needs one, and runs packer build at the staging VMID.
func (p *Packer) Build(ctx context.Context, req reconcile.BuildRequest) (reconcile.BuildResult, error) {
	t := req.Template
	// Mistakes Packer reports late or only warns about (a variable the
	// shared files do not declare) fail here, naming file and line.
	if err := workspace.Check(p.Root, t); err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	dir, err := os.MkdirTemp(p.WorkDir, "build-"+t.Name+"-")
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	defer os.RemoveAll(dir)
	plugin, gen, err := p.generation(ctx)
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	bdir := filepath.Join(dir, "src")
	if err := workspace.Assemble(p.Root, t, gen, bdir); err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	manifest, err := filepath.Abs(req.ManifestPath)
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: manifest path: %w", t.Name, err)
	}
	logPath, err := filepath.Abs(req.LogPath)
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: log path: %w", t.Name, err)
	}
	vars, err := workspace.BuildVars(t, workspace.Build{
		VMID: req.StagingVMID, Name: req.StagingName, ID: req.BuildID, ManifestPath: manifest,
		Description: req.Description, Communicator: p.Communicator,
	})
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	if err := imageVars(vars, req); err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	env := workspace.BuildEnv(p.Conn)
	if t.Build == "iso" && p.ISOStore != nil && gen == "v1.1" {
		cleanup, err := p.answers(ctx, req, dir, vars, env)
		if err != nil {
			return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
		}
		defer cleanup()
	}
	res, err := p.Runner.Build(ctx, packer.Build{
		Name: t.Name, Dir: bdir, VarFiles: []string{workspace.VarFileName(t)}, Vars: vars,
		Env: env, LogPath: logPath, Manifest: manifest, Output: req.Output,
	})
	if err != nil {
		return reconcile.BuildResult{}, err
	}
	if res.ArtifactID != "" && res.ArtifactID != strconv.Itoa(req.StagingVMID) {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: Packer reports artifact %s, not the staging VMID %d", t.Name, res.ArtifactID, req.StagingVMID)
	}
	return reconcile.BuildResult{ArtifactID: res.ArtifactID, PackerVersion: p.PackerVersion, PluginVersion: plugin}, nil
}

// generation returns the plugin version the build is for and the plugin
// generation it needs.
func (p *Packer) generation(ctx context.Context) (string, string, error) {
	plugin := p.Plugin
	if plugin == "" {
		plugins, err := p.Runner.PluginVersions(ctx)
		if err != nil {
			return "", "", fmt.Errorf("choose the plugin generation: %w", err)
		}
		newest, _ := packer.Newest(plugins, workspace.PluginSource)
		plugin = newest.Version
	}
	gen, err := workspace.PluginGeneration(plugin)
	if err != nil {
		return "", "", fmt.Errorf("choose the plugin generation: %w", err)
	}
	return plugin, gen, nil
}

// answers renders the template's answer-CD files with a fresh build
// password, uploads them as an ISO and sets answer_iso in vars and the
// password (PKR_VAR_build_password) in env, never on the command line. It
// returns the cleanup that deletes the ISO (a no-op when there are no
// answer files).
func (p *Packer) answers(ctx context.Context, req reconcile.BuildRequest, dir string, vars, env map[string]string) (func(), error) {
	t := req.Template
	password := buildPassword()
	files, err := workspace.RenderAnswers(p.Root, t, vars["template_name"], password)
	if err != nil || len(files) == 0 {
		return func() {}, err
	}
	volid, cleanup, err := p.uploadAnswers(ctx, t.Node, t.ISOStorage, req.BuildID, files, dir)
	if err != nil {
		return nil, err
	}
	vars["answer_iso"] = volid
	env["PKR_VAR_build_password"] = password
	return cleanup, nil
}
