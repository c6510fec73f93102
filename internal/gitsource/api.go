package gitsource

import (
	"context"
	"time"
)

// Revision is one commit of the remote as templated saw it.
type Revision struct {
	// URL is the remote's URL with any credentials removed.
	URL string `json:"url"`
	// Ref is the ref as configured ("main", "tag:v1.4.0", "semver:>=1.0, <2.0")
	// and Resolved the full ref it resolved to ("refs/heads/main",
	// "refs/tags/v1.4.2").
	Ref      string `json:"ref"`
	Resolved string `json:"resolved,omitempty"`
	// Commit is the full hex commit hash.
	Commit string `json:"commit"`
	// CommittedAt is the commit's committer time.
	CommittedAt time.Time `json:"committed_at"`
	// Signer names who signed the commit when verification is on: for SSH
	// the allowed-signers principal and key fingerprint, for OpenPGP the
	// key's identity and fingerprint. Empty when verification is off.
	Signer string `json:"signer,omitempty"`
	// FetchedAt is when the fetch that brought this revision finished.
	FetchedAt time.Time `json:"fetched_at"`
}

// Verify modes.
const (
	VerifyNone    = ""
	VerifySSH     = "ssh"
	VerifyOpenPGP = "openpgp"
)

// Verifier checks a commit's signature. It returns the signer's
// description, or an error saying why the commit is refused (unsigned,
// signed by a key not allowed, a bad signature).
//
// signature is the commit's gpgsig header as stored in the object (empty
// when unsigned); payload is the commit object encoded without that
// header, which is what git signs.
type Verifier interface {
	Verify(signature string, payload []byte) (signer string, err error)
}

// Refusal codes: why a fetched revision was not put in force.
const (
	RefusedRewrite  = "history-rewrite"    // does not descend from the applied revision
	RefusedUnsigned = "unsigned"           // verification on, no signature
	RefusedSigner   = "signer-not-allowed" // signed, but not by an allowed key, or a bad signature
	RefusedInvalid  = "desired-invalid"    // the desired file (or workspace) does not validate
	RefusedRef      = "ref-not-found"      // the ref (or no tag in the semver range) is not on the remote
)

// Event is what the source tells its Recorder: a revision accepted or
// refused. Fetch failures are not events (they are logged and counted).
type Event struct {
	// Kind is "accepted" or "refused".
	Kind string
	// Revision is the fetched revision the event is about.
	Revision Revision
	// Previous is the commit that was in force before ("" for the first).
	Previous string
	// Code is one of the Refused* codes for a refusal; for an acceptance it
	// is "forward", "first" or "rewrite-allowed".
	Code string
	// Detail says why, for people (one or a few lines, no secrets).
	Detail string
}

// Recorder records the source's decisions in the evidence ledger.
type Recorder interface {
	RecordSource(ctx context.Context, ev Event) error
}
