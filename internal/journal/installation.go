package journal

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"templated/internal/atomicfile"
)

// installationFile holds the installation id in the state directory.
const installationFile = "installation-id"

var installationRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// InstallationID returns the id of the templated installation that owns
// the state directory dir, creating it (12 random hex digits) on first
// use. Everything the installation creates in Proxmox is stamped with it,
// so that two installations against one cluster never clean up each
// other's guests. It names the installation; it is not a secret.
func InstallationID(dir string) (string, error) {
	p := filepath.Join(dir, installationFile)
	if b, err := os.ReadFile(p); err == nil {
		id := strings.TrimSpace(string(b))
		if !installationRE.MatchString(id) {
			return "", fmt.Errorf("installation id %s: %q is not 12 hex digits (remove the file to make a new one)", p, id)
		}
		return id, nil
	} else if !os.IsNotExist(err) {
		return "", fmt.Errorf("installation id: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("installation id: %w", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("installation id: %w", err)
	}
	// Written once, exclusively: of two processes starting at once, the
	// second finds the first's id and uses it.
	err := atomicfile.Write(p, []byte(hex.EncodeToString(b[:])+"\n"), atomicfile.Options{Perm: 0o600, Exclusive: true})
	if err != nil && !errors.Is(err, atomicfile.ErrExists) {
		return "", fmt.Errorf("installation id: %w", err)
	}
	return InstallationID(dir)
}
