package gitsource

import (
	"bytes"
	"fmt"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// sshNamespace is the sshsig namespace git signs commits and tags in.
const sshNamespace = "git"

// sshVerifier checks SSH commit signatures (gpg.format=ssh) against an
// allowed-signers file.
type sshVerifier struct {
	file *keyFile[[]allowedSigner]
	now  func() time.Time
}

// NewSSHVerifier returns a Verifier for SSH-signed commits whose signers
// are listed in allowedSignersFile, in the format of git's
// gpg.ssh.allowedSignersFile (ssh-keygen(1), ALLOWED SIGNERS). The file is
// parsed strictly (errors name file:line); cert-authority lines are refused
// as unsupported. It is re-read whenever it changes.
//
// Verify returns "<principal> (<SHA256 fingerprint>)".
func NewSSHVerifier(allowedSignersFile string) (Verifier, error) {
	f, err := newKeyFile(allowedSignersFile, parseAllowedSigners)
	if err != nil {
		return nil, fmt.Errorf("ssh allowed signers: %w", err)
	}
	return &sshVerifier{file: f, now: time.Now}, nil
}

// Verify implements Verifier.
func (v *sshVerifier) Verify(signature string, payload []byte) (string, error) {
	if err := checkFormat(signature, sigFormatSSH); err != nil {
		return "", err
	}
	sig, err := sshsig.Unarmor([]byte(signature))
	if err != nil {
		return "", fmt.Errorf("malformed ssh signature: %w", err)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if sig.Namespace != sshNamespace {
		return "", fmt.Errorf("ssh signature by %s is for namespace %q, not %q", fp, sig.Namespace, sshNamespace)
	}
	if err := sshsig.Verify(bytes.NewReader(payload), sig, sig.PublicKey, sig.HashAlgorithm, sshNamespace); err != nil {
		return "", fmt.Errorf("bad ssh signature by %s: %w", fp, err)
	}
	allowed, err := v.file.get()
	if err != nil {
		return "", err
	}
	at, label := payloadTime(payload), "committer time"
	if at.IsZero() {
		at, label = v.now(), "current time" // not a commit or tag
	}
	blob := sig.PublicKey.Marshal()
	var refusal error
	for _, a := range allowed {
		if !bytes.Equal(a.blob, blob) {
			continue
		}
		err := a.permits(sshNamespace, at, label)
		if err == nil {
			return fmt.Sprintf("%s (%s)", a.principal(), fp), nil
		}
		if refusal == nil {
			refusal = fmt.Errorf("ssh key %s of %s (%s:%d): %w", fp, a.principal(), v.file.path, a.line, err)
		}
	}
	if refusal != nil {
		return "", refusal
	}
	return "", fmt.Errorf("ssh key %s is not in %s", fp, v.file.path)
}

// permits applies a line's namespaces and validity options, as sshsig.c
// check_allowed_keys_line does (whole seconds).
func (a allowedSigner) permits(namespace string, at time.Time, label string) error {
	if a.namespaces != "" && !matchPatternList(namespace, a.namespaces) {
		return fmt.Errorf("not allowed for namespace %q (namespaces=%q)", namespace, a.namespaces)
	}
	const layout = "2006-01-02 15:04:05 MST"
	if !a.validAfter.IsZero() && at.Unix() < a.validAfter.Unix() {
		return fmt.Errorf("not yet valid: %s %s is before valid-after %s",
			label, at.UTC().Format(layout), a.validAfter.UTC().Format(layout))
	}
	if !a.validBefore.IsZero() && at.Unix() > a.validBefore.Unix() {
		return fmt.Errorf("expired: %s %s is after valid-before %s",
			label, at.UTC().Format(layout), a.validBefore.UTC().Format(layout))
	}
	return nil
}

var _ Verifier = (*sshVerifier)(nil)
