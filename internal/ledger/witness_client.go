package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ConflictError is a witness's 409 answer to add-checkpoint: it has
// cosigned a tree of Size entries, not the old size the request named.
type ConflictError struct {
	Witness string
	Size    int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness %s has cosigned size %d", e.Witness, e.Size)
}

// RejectedError is any other non-200 answer: 403 (unknown log or key), 422
// (the consistency proof failed: the history differs from what it
// cosigned), 400, 5xx.
type RejectedError struct {
	Witness string
	Status  int
	Body    string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("witness %s answered %d: %s", e.Witness, e.Status, e.Body)
}

// addCheckpoint sends one C2SP tlog-witness add-checkpoint request: the
// size the witness is believed to know, a consistency proof from it, and
// the signed checkpoint (only the tree head: origin, size, root). It
// returns the witness's cosignature lines.
func addCheckpoint(ctx context.Context, hc *http.Client, w WitnessConfig, old int64, proof tlog.TreeProof, checkpoint []byte) ([]string, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, h := range proof {
		body.WriteString(base64.StdEncoding.EncodeToString(h[:]) + "\n")
	}
	body.WriteByte('\n')
	body.Write(checkpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(w.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.Name, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("witness %s: read answer: %w", w.Name, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) == 0 || lines[0] == "" {
			return nil, fmt.Errorf("witness %s: empty cosignature", w.Name)
		}
		return lines, nil
	case http.StatusConflict:
		size, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("witness %s: 409 without a valid size", w.Name)
		}
		return nil, &ConflictError{Witness: w.Name, Size: size}
	}
	return nil, &RejectedError{Witness: w.Name, Status: resp.StatusCode, Body: truncate(strings.TrimSpace(string(b)), 200)}
}

// cosign gets w's cosignature on checkpoint (size n), starting from old,
// the size w is believed to know: after a 409 naming a size not above n it
// retries once from that size. prove returns the consistency proof from
// one size to n. On success it returns the valid cosignature lines; a
// *ConflictError means w knows a larger tree than n.
func cosign(ctx context.Context, hc *http.Client, w WitnessConfig, old int64, checkpoint []byte, n int64, prove func(old int64) (tlog.TreeProof, error)) ([]string, int64, error) {
	v, err := parseWitnessKey(w.VerifierKey)
	if err != nil {
		return nil, old, err
	}
	text, _, err := splitNote(checkpoint)
	if err != nil {
		return nil, old, err
	}
	for try := 0; ; try++ {
		if old > n {
			return nil, old, &ConflictError{Witness: w.Name, Size: old}
		}
		proof, err := prove(old)
		if err != nil {
			return nil, old, err
		}
		lines, err := addCheckpoint(ctx, hc, w, old, proof, checkpoint)
		var ce *ConflictError
		if errors.As(err, &ce) && try == 0 && ce.Size != old {
			old = ce.Size
			continue
		}
		if err != nil {
			return nil, old, err
		}
		good := cosignedBy(text, lines, v)
		if len(good) == 0 {
			return nil, old, fmt.Errorf("witness %s: answer holds no valid cosignature by %s", w.Name, v.Name())
		}
		return good, n, nil
	}
}
