package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// cosigDirName holds, per checkpoint size, the checkpoint with every
// witness cosignature gathered so far: cosignatures/<N>.note.
const cosigDirName = "cosignatures"

// splitNote returns a signed note's text (ending in '\n') and its
// signature lines.
func splitNote(msg []byte) (string, []string, error) {
	text, sigs, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		return "", nil, errors.New("malformed signed note")
	}
	return text + "\n", strings.Split(strings.TrimSuffix(sigs, "\n"), "\n"), nil
}

// cosignedBy returns the signature lines in sigs that are valid
// cosignatures of text by v.
func cosignedBy(text string, sigs []string, v *torchwood.CosignatureVerifier) []string {
	var ok []string
	for _, s := range sigs {
		if !strings.HasPrefix(s, "— "+v.Name()+" ") {
			continue
		}
		if _, err := note.Open([]byte(text+"\n"+s+"\n"), note.VerifierList(v)); err == nil {
			ok = append(ok, s)
		}
	}
	return ok
}

// storeCosignatures adds valid cosignature lines to cosignatures/<n>.note
// (starting from the checkpoint note itself).
func (l *Ledger) storeCosignatures(checkpoint []byte, n int64, lines []string) error {
	p := l.path(cosigDirName, noteName(n))
	base := checkpoint
	if old, err := os.ReadFile(p); err == nil {
		base = old
	}
	_, have, err := splitNote(base)
	if err != nil {
		return fmt.Errorf("stored cosignatures %s: %w", noteName(n), err)
	}
	out := bytes.Clone(base)
	for _, s := range lines {
		if !slices.Contains(have, s) {
			out = append(out, s+"\n"...)
		}
	}
	if bytes.Equal(out, base) && base != nil && !bytes.Equal(base, checkpoint) {
		return nil
	}
	if err := os.MkdirAll(l.path(cosigDirName), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", cosigDirName, err)
	}
	return writeFileAtomic(p, out, false, "cosignatures")
}
