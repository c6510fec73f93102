package ledger

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed tree head (C2SP tlog-checkpoint): the log's origin,
// its size, and the RFC 6962 root hash of its first Size entries.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

func (c Checkpoint) text() string {
	return c.Origin + "\n" + formatSize(c.Size) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// signCheckpoint returns the signed note for c.
func signCheckpoint(c Checkpoint, k *signingKey) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.text()}, k.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint %d: %w", c.Size, err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint with the verifier keys and
// parses its body. Signatures by unknown keys are ignored, as C2SP asks, but
// at least one trusted signature is required.
func OpenCheckpoint(msg []byte, vkeys ...string) (Checkpoint, error) {
	keys, err := parseVerifierKeys(vkeys)
	if err != nil {
		return Checkpoint{}, err
	}
	return openCheckpoint(msg, keys)
}

func parseVerifierKeys(vkeys []string) ([]trustedKey, error) {
	if len(vkeys) == 0 {
		return nil, errors.New("no verifier key")
	}
	keys := make([]trustedKey, 0, len(vkeys))
	for _, v := range vkeys {
		k, err := parseVerifierKey(v)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func openCheckpoint(msg []byte, keys []trustedKey) (Checkpoint, error) {
	vs := make([]note.Verifier, len(keys))
	for i, k := range keys {
		vs[i] = k.verifier
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		var unv *note.UnverifiedNoteError
		var inv *note.InvalidSignatureError
		switch {
		case errors.As(err, &unv):
			names := make([]string, len(unv.Note.UnverifiedSigs))
			for i, s := range unv.Note.UnverifiedSigs {
				names[i] = keyID(s.Name, s.Hash)
			}
			return Checkpoint{}, fmt.Errorf("not signed by a trusted key (signed by %s)", strings.Join(names, ", "))
		case errors.As(err, &inv):
			return Checkpoint{}, fmt.Errorf("invalid signature by %s", keyID(inv.Name, inv.Hash))
		}
		return Checkpoint{}, fmt.Errorf("malformed signed note: %w", err)
	}
	c, err := parseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	for _, s := range n.Sigs {
		if s.Name == c.Origin {
			return c, nil
		}
	}
	return Checkpoint{}, fmt.Errorf("origin %q is not the signer's name", c.Origin)
}

func parseCheckpointText(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("malformed checkpoint body")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || formatSize(size) != lines[1] {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint size %q", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], raw)
	return Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// hashStore keeps every stored hash of the tree in memory (about two per
// entry), indexed as tlog.StoredHashIndex numbers them.
type hashStore struct {
	h []tlog.Hash
}

func (s *hashStore) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(s.h)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = s.h[x]
	}
	return out, nil
}

// add stores the hashes for record n (which must be the next one).
func (s *hashStore) add(n int64, leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(n, leaf, s)
	if err != nil {
		return fmt.Errorf("store hashes of record %d: %w", n, err)
	}
	s.h = append(s.h, hs...)
	return nil
}

// root returns the tree hash of the first n records.
func (s *hashStore) root(n int64) (tlog.Hash, error) {
	return tlog.TreeHash(n, s)
}
