package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Commit signature verification: what both verifiers share.
//
// Time. A key's validity window is judged at the time the signer claims
// to have signed. SSH signatures carry no time, so the SSH verifier checks
// the allowed-signers valid-after and valid-before options against the
// commit's committer time, read from the signed payload, as git itself does
// (it passes -Overify-time=<committer time> to ssh-keygen); a payload
// without a committer (or tagger) line is checked against the current time.
// OpenPGP signatures carry their creation time, and the OpenPGP verifier
// checks the key's expiry and revocations at that time (a revocation for
// key compromise counts whatever its date). Old commits signed inside a
// key's window therefore stay valid after the window closes. To withdraw a
// key entirely, remove it from the file: a key not in the file is refused
// whatever the dates.
//
// Rotation. A verifier re-reads its key file when the file's size, mtime or
// identity (inode) changes, checked on every Verify, so rotating keys needs
// no restart and no SIGHUP. While the file is unreadable or invalid, every
// verification fails with ErrKeyFile (fail closed); the last good contents
// are not used.

// ErrUnsigned is returned (wrapped) by a Verifier when the commit carries
// no signature at all; the source records it as RefusedUnsigned.
var ErrUnsigned = errors.New("commit is not signed")

// ErrKeyFile is returned (wrapped) by a Verifier when its key file cannot
// be read or no longer parses: the commit was not judged, so this is a
// configuration fault rather than a refusal of the signer.
var ErrKeyFile = errors.New("verification key file unusable")

// maxKeyFileSize bounds an allowed-signers file or an OpenPGP keyring.
const maxKeyFileSize = 1 << 20

// Armor headers of the signature formats git writes into gpgsig.
const (
	sshSigBegin   = "-----BEGIN SSH SIGNATURE-----"
	pgpSigBegin   = "-----BEGIN PGP SIGNATURE-----"
	x509SigBegin  = "-----BEGIN SIGNED MESSAGE-----"
	sigFormatSSH  = "ssh"
	sigFormatPGP  = "openpgp"
	sigFormatX509 = "x509"
)

// signatureFormat names the format of a gpgsig value, "" when unknown.
func signatureFormat(sig string) string {
	switch {
	case strings.Contains(sig, sshSigBegin):
		return sigFormatSSH
	case strings.Contains(sig, pgpSigBegin):
		return sigFormatPGP
	case strings.Contains(sig, x509SigBegin):
		return sigFormatX509
	}
	return ""
}

// checkFormat refuses an empty signature (ErrUnsigned) and one in another
// format than want.
func checkFormat(sig, want string) error {
	if strings.TrimSpace(sig) == "" {
		return ErrUnsigned
	}
	switch got := signatureFormat(sig); got {
	case want:
		return nil
	case "":
		return fmt.Errorf("signature is in no known format, want %s", want)
	default:
		return fmt.Errorf("signature is %s, but verification is %s", got, want)
	}
}

// payloadTime returns the committer (or, for a tag, tagger) time of a
// signed payload, or the zero time when the headers carry none.
func payloadTime(payload []byte) time.Time {
	rest := payload
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) == 0 {
			break // end of the headers
		}
		for _, h := range [][]byte{[]byte("committer "), []byte("tagger ")} {
			if bytes.HasPrefix(line, h) {
				return identTime(line)
			}
		}
	}
	return time.Time{}
}

// identTime reads "<name> <email> <unix seconds> <zone>".
func identTime(line []byte) time.Time {
	gt := bytes.LastIndexByte(line, '>')
	if gt < 0 {
		return time.Time{}
	}
	f := bytes.Fields(line[gt+1:])
	if len(f) < 1 {
		return time.Time{}
	}
	sec, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// keyFile holds a parsed key file and re-reads it when it changes.
type keyFile[T any] struct {
	path  string
	parse func(path string, data []byte) (T, error)

	mu   sync.Mutex
	info os.FileInfo // of the contents in val; nil before the first load
	val  T
	err  error
}

func newKeyFile[T any](path string, parse func(string, []byte) (T, error)) (*keyFile[T], error) {
	k := &keyFile[T]{path: path, parse: parse}
	if _, err := k.get(); err != nil {
		return nil, err
	}
	return k, nil
}

// get returns the file's parsed contents, re-reading the file if its size,
// mtime or identity changed since the last read.
func (k *keyFile[T]) get() (T, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var zero T
	fi, err := os.Stat(k.path)
	if err != nil {
		k.info, k.val, k.err = nil, zero, err
		return zero, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	if k.info != nil && os.SameFile(k.info, fi) && fi.Size() == k.info.Size() && fi.ModTime().Equal(k.info.ModTime()) {
		if k.err != nil {
			return zero, fmt.Errorf("%w: %w", ErrKeyFile, k.err)
		}
		return k.val, nil
	}
	k.info = fi
	k.val, k.err = k.load()
	if k.err != nil {
		k.val = zero
		return zero, fmt.Errorf("%w: %w", ErrKeyFile, k.err)
	}
	return k.val, nil
}

func (k *keyFile[T]) load() (T, error) {
	var zero T
	f, err := os.Open(k.path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return zero, fmt.Errorf("read %s: %w", k.path, err)
	}
	if len(data) > maxKeyFileSize {
		return zero, fmt.Errorf("%s: larger than %d bytes", k.path, maxKeyFileSize)
	}
	return k.parse(k.path, data)
}
