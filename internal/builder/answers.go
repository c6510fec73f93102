package builder

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ISOStore is what a build needs from Proxmox to hand Packer an answer CD:
// proxmox.Client implements it (and proxmoxfake.Cluster).
type ISOStore interface {
	UploadISO(ctx context.Context, node, storage, filename string, r io.Reader, size int64) error
	DeleteVolume(ctx context.Context, node, storage, volid string) error
}

// answerLabel is the CD's volume label, as the workspace's cd_label.
const answerLabel = "ANSWERS"

// cleanupTimeout bounds deleting the answer ISO after a build, which runs
// even when the build's context has ended.
const cleanupTimeout = 2 * time.Minute

var reUnsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// answerFilename is the answer ISO's file name on the ISO storage for
// build id.
func answerFilename(buildID string) string {
	return "templated-answers-" + strings.Trim(reUnsafeFileChars.ReplaceAllString(buildID, "-"), "-.") + ".iso"
}

// buildPassword returns a fresh password for a build's temporary account:
// "Tpl-" and 26 random base32 characters (130 bits), so that it always
// meets Windows' complexity rule (upper and lower case, a symbol) and needs
// no quoting in XML, shells or HCL.
func buildPassword() string { return "Tpl-" + rand.Text() }

// answerISO writes files (name → content) into a new directory under dir
// and makes the CD image out of them with xorriso, as Packer's cd_files
// does; it returns the image's path. The files hold the build password,
// so they are readable by the owner only.
func answerISO(ctx context.Context, files map[string][]byte, dir string) (string, error) {
	src := filepath.Join(dir, "answers")
	if err := os.Mkdir(src, 0o700); err != nil {
		return "", fmt.Errorf("answer CD: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return "", fmt.Errorf("answer CD: invalid file name %q", name)
		}
		if err := os.WriteFile(filepath.Join(src, name), files[name], 0o600); err != nil {
			return "", fmt.Errorf("answer CD: %w", err)
		}
	}
	out := filepath.Join(dir, "answers.iso")
	cmd := exec.CommandContext(ctx, "xorriso", "-as", "mkisofs", "-J", "-R", "-V", answerLabel, "-o", out, src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("answer CD: xorriso: %w", ctx.Err())
		}
		return "", fmt.Errorf("answer CD: xorriso (Packer's CD tool; apt-get install xorriso): %w: %s", err, lastLines(stderr.String(), 5))
	}
	return out, nil
}

// lastLines returns the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
}

// uploadAnswers makes the answer CD from files in dir, uploads it to the
// template's ISO storage and returns its volume id and a cleanup that
// deletes it again (bounded by cleanupTimeout, even after ctx ended).
func (p *Packer) uploadAnswers(ctx context.Context, node, storage, buildID string, files map[string][]byte, dir string) (string, func(), error) {
	iso, err := answerISO(ctx, files, dir)
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(iso)
	if err != nil {
		return "", nil, fmt.Errorf("answer CD: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("answer CD: %w", err)
	}
	name := answerFilename(buildID)
	volid := storage + ":iso/" + name
	if err := p.ISOStore.UploadISO(ctx, node, storage, name, f, info.Size()); err != nil {
		return "", nil, fmt.Errorf("answer CD: %w", err)
	}
	log := p.log().WithField("volume", volid).WithField("build_id", buildID)
	log.Info("uploaded the answer CD")
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := p.ISOStore.DeleteVolume(cctx, node, storage, volid); err != nil {
			log.WithError(err).Warn("could not delete the answer CD, which holds the build password; delete it on the node: pvesm free " + volid)
			return
		}
		log.Info("deleted the answer CD")
	}
	return volid, cleanup, nil
}
