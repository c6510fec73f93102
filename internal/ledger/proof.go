package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// proofHeader starts a C2SP tlog-proof.
const proofHeader = "c2sp.org/tlog-proof@v1"

// Prove returns an inclusion proof for entry seq in C2SP tlog-proof format,
// against the ledger's latest checkpoint. The entry line itself travels in
// the "extra" field (base64), so the proof is self-contained; CheckProof
// checks it offline with the public key.
func Prove(dir string, seq uint64) ([]byte, error) {
	ld := filepath.Join(dir, ledgerDirName)
	raw, err := os.ReadFile(filepath.Join(ld, entriesName))
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	note, err := os.ReadFile(filepath.Join(ld, checkpointName))
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	size, err := parseCheckpointNote(note)
	if err != nil {
		return nil, fmt.Errorf("parse checkpoint: %w", err)
	}
	sc, err := scanEntries(raw)
	if err != nil {
		return nil, err
	}
	if int64(seq) >= size {
		return nil, fmt.Errorf("entry %d is not covered by the latest checkpoint (size %d)", seq, size)
	}
	if size > int64(len(sc.lines)) {
		return nil, fmt.Errorf("checkpoint size %d exceeds the %d entries: run verify", size, len(sc.lines))
	}
	p, err := tlog.ProveRecord(size, int64(seq), &sc.store)
	if err != nil {
		return nil, fmt.Errorf("prove entry %d: %w", seq, err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nextra %s\nindex %d\n", proofHeader, base64.StdEncoding.EncodeToString(sc.lines[seq].raw), seq)
	for _, h := range p {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
	b.WriteByte('\n')
	b.Write(note)
	return b.Bytes(), nil
}

// ProofResult is what a valid proof proves.
type ProofResult struct {
	Checkpoint Checkpoint
	Index      uint64
	Line       []byte // the entry's line
	Entry      Entry
}

// CheckProof checks a C2SP tlog-proof offline: the checkpoint's signature by
// one of vkeys and the Merkle inclusion of the entry line at its index. The
// line is taken from entry when given, else from the proof's extra field.
func CheckProof(proof []byte, vkeys []string, entry []byte) (*ProofResult, error) {
	keys, err := parseVerifierKeys(vkeys)
	if err != nil {
		return nil, err
	}
	head, note, ok := strings.Cut(string(proof), "\n\n")
	if !ok {
		return nil, errors.New("proof: no blank line before the checkpoint")
	}
	lines := strings.Split(head, "\n")
	if lines[0] != proofHeader {
		return nil, fmt.Errorf("proof: header is %q, want %q", lines[0], proofHeader)
	}
	lines = lines[1:]
	var extra []byte
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		if extra, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra ")); err != nil {
			return nil, fmt.Errorf("proof: extra: %w", err)
		}
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, errors.New("proof: no index line")
	}
	idx, err := strconv.ParseUint(strings.TrimPrefix(lines[0], "index "), 10, 63)
	if err != nil {
		return nil, fmt.Errorf("proof: index: %w", err)
	}
	var path tlog.RecordProof
	for _, s := range lines[1:] {
		h, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(h) != tlog.HashSize {
			return nil, fmt.Errorf("proof: malformed hash %q", s)
		}
		path = append(path, tlog.Hash(h))
	}
	cp, err := openCheckpoint([]byte(note), keys)
	if err != nil {
		return nil, fmt.Errorf("proof checkpoint: %w", err)
	}
	line := bytes.TrimSuffix(entry, []byte("\n"))
	if entry == nil {
		line = extra
	}
	if line == nil {
		return nil, errors.New("proof: no entry given and no extra field")
	}
	if err := tlog.CheckRecord(path, cp.Size, cp.Root, int64(idx), tlog.RecordHash(line)); err != nil {
		return nil, fmt.Errorf("entry %d is not included in checkpoint %d: %w", idx, cp.Size, err)
	}
	res := &ProofResult{Checkpoint: cp, Index: idx, Line: line}
	if d, err := decodeLine(line); err == nil {
		res.Entry = d.Entry
	}
	return res, nil
}
