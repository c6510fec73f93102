package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"templated/internal/atomicfile"
)

// Evidence file names in a build folder.
const (
	FilePackerLog  = "packer.log"
	FileManifest   = "packer-manifest.json"
	FileBuildJSON  = "build.json"
	FileSHA256SUMS = "SHA256SUMS"
	FileProvenance = "provenance.intoto.json"
)

// BuildEvidence is one build's evidence folder, <dir>/<template>/<build-id>/.
// Packer writes LogPath (PACKER_LOG_PATH) and ManifestPath (the manifest
// post-processor's output); Finish seals the folder.
type BuildEvidence struct {
	Template, BuildID string
	Dir               string // the folder
	LogPath           string
	ManifestPath      string
	l                 *Ledger
}

// BuildInfo is the metadata of a finished build, for build.json, the
// provenance and the build.finished entry. Never put secrets in it.
type BuildInfo struct {
	Result       string // success or failure
	Error        string // why it failed
	Reason       *Reason
	Desired      *Desired
	Release      string
	InputsSHA256 string
	Git          *Git
	CI           *CI
	Versions     *Versions
	Proxmox      *Proxmox
	StartedAt    time.Time
	FinishedAt   time.Time // zero: now
	// Images are the images the build started from; the provenance lists
	// them as resolved dependencies.
	Images []Image `json:",omitempty"`
}

// NewBuild creates the evidence folder for a build. The folder must not hold
// evidence already.
func (l *Ledger) NewBuild(template, buildID string) (*BuildEvidence, error) {
	if !validName(template) || !validName(buildID) || template == ledgerDirName {
		return nil, fmt.Errorf("new build: invalid template %q or build ID %q", template, buildID)
	}
	dir := filepath.Join(l.dir, template, buildID)
	if des, err := os.ReadDir(dir); err == nil && len(des) > 0 {
		return nil, fmt.Errorf("new build: %s already holds evidence", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("new build: %w", err)
	}
	if err := errors.Join(atomicfile.SyncDir(filepath.Dir(dir)), atomicfile.SyncDir(l.dir)); err != nil {
		return nil, fmt.Errorf("new build: %w", err)
	}
	return &BuildEvidence{Template: template, BuildID: buildID, Dir: dir, l: l,
		LogPath: filepath.Join(dir, FilePackerLog), ManifestPath: filepath.Join(dir, FileManifest)}, nil
}

// Finish seals the folder: it redacts the ledger's secrets from the files
// Packer wrote, hashes every file, writes build.json, the DSSE-signed
// provenance (when a manifest exists: a failed build may have none) and
// SHA256SUMS, and returns the build.finished entry for Append. Failed builds
// are sealed too.
func (b *BuildEvidence) Finish(ctx context.Context, info BuildInfo) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if info.FinishedAt.IsZero() {
		info.FinishedAt = b.l.opts.Clock()
	}
	// The error text goes into build.json and the provenance, written
	// after the redaction pass below: redact it here.
	info.Error = b.l.secrets.String(info.Error)
	ev, err := b.hashFolder(true)
	if err != nil {
		return Entry{}, err
	}
	meta, err := json.MarshalIndent(buildJSON{Template: b.Template, BuildID: b.BuildID, BuildInfo: info,
		StartedAt: rfc3339(info.StartedAt), FinishedAt: rfc3339(info.FinishedAt), Files: ev}, "", "  ")
	if err != nil {
		return Entry{}, fmt.Errorf("encode build.json: %w", err)
	}
	if err := b.write(FileBuildJSON, append(meta, '\n')); err != nil {
		return Entry{}, err
	}
	if ev, err = b.hashFolder(false); err != nil {
		return Entry{}, err
	}
	if m, ok := findEvidence(ev, FileManifest); ok {
		var prods []Evidence
		for _, e := range ev {
			if e.Name != FileManifest {
				prods = append(prods, e)
			}
		}
		st := provenanceFor(b, info, b.l.opts.BuilderID, m, prods)
		payload, err := json.Marshal(st)
		if err != nil {
			return Entry{}, fmt.Errorf("encode provenance: %w", err)
		}
		k := mustTrusted(b.l.key.vkey)
		env, _ := json.MarshalIndent(SignEnvelope(PayloadTypeInToto, payload, b.l.key.priv, k.keyID), "", "  ")
		if err := b.write(FileProvenance, append(env, '\n')); err != nil {
			return Entry{}, err
		}
		if ev, err = b.hashFolder(false); err != nil {
			return Entry{}, err
		}
	}
	var sums bytes.Buffer
	for _, e := range ev {
		fmt.Fprintf(&sums, "%s  %s\n", e.SHA256, e.Name)
	}
	if err := b.write(FileSHA256SUMS, sums.Bytes()); err != nil {
		return Entry{}, err
	}
	if ev, err = b.hashFolder(false); err != nil {
		return Entry{}, err
	}
	return Entry{
		Kind: KindBuildFinished, Template: b.Template, BuildID: b.BuildID,
		Result: info.Result, Error: info.Error, Reason: info.Reason, Desired: info.Desired,
		Release: info.Release, InputsSHA256: info.InputsSHA256, Git: info.Git, CI: info.CI,
		Versions: info.Versions, Proxmox: info.Proxmox, StartedAt: rfc3339(info.StartedAt),
		DurationMS: durationMS(info), Evidence: ev, Images: info.Images,
	}, nil
}

// RedactUnsealed redacts the ledger's secrets from the files of a build
// folder that was never sealed: a build interrupted by a crash leaves
// Packer's raw log behind, and Finish, which redacts, never ran for it. A
// sealed folder (it has SHA256SUMS) is left alone, since its checksums are
// in the ledger; so is a missing one. It reports whether it redacted.
func (l *Ledger) RedactUnsealed(template, buildID string) (bool, error) {
	if !validName(template) || !validName(buildID) || template == ledgerDirName {
		return false, fmt.Errorf("redact unsealed: invalid template %q or build ID %q", template, buildID)
	}
	b := &BuildEvidence{Template: template, BuildID: buildID, Dir: filepath.Join(l.dir, template, buildID), l: l}
	if _, err := os.Stat(filepath.Join(b.Dir, FileSHA256SUMS)); err == nil {
		return false, nil
	}
	if _, err := os.Stat(b.Dir); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if _, err := b.hashFolder(true); err != nil {
		return false, fmt.Errorf("redact unsealed %s: %w", b.Dir, err)
	}
	return true, nil
}

// buildJSON is the content of build.json.
type buildJSON struct {
	Template   string     `json:"template"`
	BuildID    string     `json:"build_id"`
	StartedAt  string     `json:"started_at,omitempty"`
	FinishedAt string     `json:"finished_at"`
	Files      []Evidence `json:"files"`
	BuildInfo
}

func durationMS(info BuildInfo) int64 {
	if info.StartedAt.IsZero() {
		return 0
	}
	return info.FinishedAt.Sub(info.StartedAt).Milliseconds()
}

func (b *BuildEvidence) write(name string, data []byte) error {
	if err := writeFileAtomic(filepath.Join(b.Dir, name), data, true, "evidence:"+name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// hashFolder hashes every regular file of the folder, sorted by name,
// first redacting secrets from them when redact is set.
func (b *BuildEvidence) hashFolder(redact bool) ([]Evidence, error) {
	des, err := os.ReadDir(b.Dir)
	if err != nil {
		return nil, fmt.Errorf("read evidence folder: %w", err)
	}
	var out []Evidence
	for _, de := range des {
		if !de.Type().IsRegular() || atomicfile.IsTemp(de.Name()) {
			continue
		}
		p := filepath.Join(b.Dir, de.Name())
		if redact {
			if err := b.redact(p); err != nil {
				return nil, err
			}
		}
		sum, size, err := hashFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, Evidence{Name: de.Name(), Path: path.Join(b.Template, b.BuildID, de.Name()), SHA256: sum, Size: size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// redact replaces every secret in the file, in every form, with [redacted].
func (b *BuildEvidence) redact(p string) error {
	if len(b.l.opts.Secrets) == 0 {
		return nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if !b.l.secrets.Contains(data) {
		return nil
	}
	out := b.l.secrets.Bytes(data)
	return writeFileAtomic(p, out, false, "evidence:redact")
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, fmt.Errorf("hash evidence: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func findEvidence(ev []Evidence, name string) (Evidence, bool) {
	for _, e := range ev {
		if e.Name == name {
			return e, true
		}
	}
	return Evidence{}, false
}

// parseSums parses a SHA256SUMS file into name → sha256.
func parseSums(b []byte) (map[string]string, error) {
	out := map[string]string{}
	for i, ln := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		sum, name, ok := strings.Cut(ln, "  ")
		if !ok || !validHex256(sum) {
			return nil, fmt.Errorf("line %d is malformed", i+1)
		}
		out[name] = sum
	}
	return out, nil
}
