// Package builder owns one template build with Packer: it assembles the
// template's build directory from the workspace, hands Packer the
// variables templated sets (the staging VMID, names, hardware, manifest
// path) on the command line and the connection secrets in the
// environment, runs it, and reads back the manifest. It implements
// reconcile.Builder.
package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

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
	// Communicator overrides the var files' communicator ("none" against
	// the simulator, where no guest boots); "" keeps them.
	Communicator string
	// WorkDir holds the assembled build directories (a temporary
	// directory when empty); each build's is removed afterwards.
	WorkDir string
	// PackerVersion is recorded in results.
	PackerVersion string
}

var _ reconcile.Builder = (*Packer)(nil)

// Build assembles the build directory and runs packer build at the
// staging VMID.
func (p *Packer) Build(ctx context.Context, req reconcile.BuildRequest) (reconcile.BuildResult, error) {
	t := req.Template
	dir, err := os.MkdirTemp(p.WorkDir, "build-"+t.Name+"-")
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	defer os.RemoveAll(dir)
	bdir := filepath.Join(dir, "src")
	if err := workspace.Assemble(p.Root, t, "", bdir); err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	manifest, err := filepath.Abs(req.ManifestPath)
	if err != nil {
		return reconcile.BuildResult{}, err
	}
	logPath, err := filepath.Abs(req.LogPath)
	if err != nil {
		return reconcile.BuildResult{}, err
	}
	vars, err := workspace.BuildVars(t, workspace.Build{
		VMID: req.StagingVMID, Name: req.StagingName, ID: req.BuildID, ManifestPath: manifest,
		Description: req.Description, Communicator: p.Communicator,
	})
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("build %s: %w", t.Name, err)
	}
	res, err := p.Runner.Build(ctx, packer.Build{
		Name: t.Name, Dir: bdir, VarFiles: []string{workspace.VarFileName(t)}, Vars: vars,
		Env: workspace.BuildEnv(p.Conn), LogPath: logPath, Manifest: manifest, Output: req.Output,
	})
	if err != nil {
		return reconcile.BuildResult{Duration: res.Duration}, err
	}
	if res.ArtifactID != "" && res.ArtifactID != strconv.Itoa(req.StagingVMID) {
		return reconcile.BuildResult{Duration: res.Duration}, fmt.Errorf("build %s: Packer reports artifact %s, not the staging VMID %d", t.Name, res.ArtifactID, req.StagingVMID)
	}
	return reconcile.BuildResult{ArtifactID: res.ArtifactID, PackerVersion: p.PackerVersion, Duration: res.Duration}, nil
}
