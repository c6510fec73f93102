package ledger

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Kind names what an entry records. The kinds below are the ones templated
// writes; any other lowercase dotted name is accepted so that new kinds need
// no schema change.
type Kind string

// Entry kinds.
const (
	// KindDecision is a plan that led to action, or a scheduled check that
	// found nothing to do, with the desired file's hash and the git commit.
	KindDecision Kind = "decision"
	// KindBuildStarted and KindBuildFinished bracket one Packer build.
	KindBuildStarted  Kind = "build.started"
	KindBuildFinished Kind = "build.finished"
	// KindDesiredRejected is a desired file that failed validation.
	KindDesiredRejected Kind = "desired.rejected"
	// KindRetentionPrune records evidence folders removed by Prune.
	KindRetentionPrune Kind = "retention.prune"
	// KindLedgerRepair records what Repair did after a crash.
	KindLedgerRepair Kind = "ledger.repair"
	// Kinds used by apply and the daemon.
	KindStep     Kind = "step"
	KindSwap     Kind = "swap"
	KindRollback Kind = "rollback"
	KindAdopt    Kind = "adopt"
	KindResume   Kind = "resume"
	KindSuspend  Kind = "suspend"
	// KindSourceAccepted and KindSourceRefused record the daemon's
	// decisions on fetched git revisions (Git names the revision, Reason
	// why it was refused or how it was accepted).
	KindSourceAccepted Kind = "source.accepted"
	KindSourceRefused  Kind = "source.refused"
)

// Entry is one line of the ledger. The envelope (V, Seq, TS, Kind, Prev, Sig)
// is always present and filled by Append; every other field is optional and
// typed. Lines are canonical: exactly what json.Marshal of the Entry gives,
// so that unknown, duplicate or reordered keys are detected.
type Entry struct {
	V    int    `json:"v"`
	Seq  uint64 `json:"seq"`
	TS   string `json:"ts"`
	Kind Kind   `json:"kind"`
	// Prev is the hex RFC 6962 leaf hash of the previous line (zeros for seq 0).
	Prev string `json:"prev"`

	Template     string            `json:"template,omitempty"`
	BuildID      string            `json:"build_id,omitempty"`
	Step         string            `json:"step,omitempty"`
	Result       string            `json:"result,omitempty"`
	Error        string            `json:"error,omitempty"`
	Reason       *Reason           `json:"reason,omitempty"`
	Desired      *Desired          `json:"desired,omitempty"`
	Release      string            `json:"release,omitempty"`
	InputsSHA256 string            `json:"inputs_sha256,omitempty"`
	Git          *Git              `json:"git,omitempty"`
	CI           *CI               `json:"ci,omitempty"`
	Versions     *Versions         `json:"versions,omitempty"`
	Proxmox      *Proxmox          `json:"proxmox,omitempty"`
	StartedAt    string            `json:"started_at,omitempty"`
	DurationMS   int64             `json:"duration_ms,omitempty"`
	Plan         []Action          `json:"plan,omitempty"`
	Evidence     []Evidence        `json:"evidence,omitempty"`
	Prune        *PruneRecord      `json:"prune,omitempty"`
	Repair       *RepairRecord     `json:"repair,omitempty"`
	Detail       map[string]string `json:"detail,omitempty"`
	// Images are the images a build started from (build entries).
	Images []Image `json:"images,omitempty"`

	// Sig is the base64 ed25519 signature of the line with an empty sig.
	Sig string `json:"sig"`
}

// Image is one image a build started from: where it came from and the
// digest the Proxmox node verified it against.
type Image struct {
	Name string `json:"name"`
	// URI is the upstream URL, without credentials or query.
	URI    string            `json:"uri"`
	File   string            `json:"file,omitempty"`
	Digest map[string]string `json:"digest"` // {"sha256": "<hex>"}
	// Volume is the volume the build used ("local:iso/…").
	Volume string `json:"volume,omitempty"`
	// ChecksumURL is the checksum file the digest was read from ("" for a
	// pinned checksum).
	ChecksumURL string `json:"checksum_url,omitempty"`
}

// Reason says why something was (or was not) done.
type Reason struct {
	Code   string `json:"code"` // inputs-changed, max-age, manual, up-to-date, ...
	Detail string `json:"detail,omitempty"`
}

// Desired identifies the desired state a decision or build came from.
type Desired struct {
	File   string `json:"file,omitempty"`
	SHA256 string `json:"sha256"`
	// Entry is the template's desired entry as JSON (no secrets in it).
	Entry json.RawMessage `json:"entry,omitempty"`
}

// Git is the commit of the repository templated ran from: a working
// copy's HEAD, or (Fetched) the revision the daemon fetched from Repo.
type Git struct {
	Repo   string `json:"repo,omitempty"` // remote URL without credentials
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
	// Fetched is true when the daemon fetched the commit itself; Ref is the
	// ref it followed, Signer the verified signer ("" when not verified),
	// FetchedAt the fetch's time (RFC 3339).
	Fetched   bool   `json:"fetched,omitempty"`
	Ref       string `json:"ref,omitempty"`
	Signer    string `json:"signer,omitempty"`
	FetchedAt string `json:"fetched_at,omitempty"`
}

// CI is the CI run templated ran in, as found by DetectCI.
type CI struct {
	System     string `json:"system"` // jenkins, github-actions or none
	URL        string `json:"url,omitempty"`
	BuildTag   string `json:"build_tag,omitempty"`
	Repository string `json:"repository,omitempty"`
	RunID      string `json:"run_id,omitempty"`
}

// Versions are the tools that took part in a build.
type Versions struct {
	Templated string            `json:"templated,omitempty"`
	Packer    string            `json:"packer,omitempty"`
	Plugins   map[string]string `json:"plugins,omitempty"`
}

// Proxmox is where a build ran and which VMIDs it used.
type Proxmox struct {
	Node         string `json:"node,omitempty"`
	ReservedVMID int    `json:"reserved_vmid,omitempty"`
	StagingVMID  int    `json:"staging_vmid,omitempty"`
	PreviousVMID int    `json:"previous_vmid,omitempty"`
}

// Action is one line of a plan.
type Action struct {
	Template string `json:"template"`
	Action   string `json:"action"` // create, rebuild, keep, blocked, ...
	Reason   string `json:"reason,omitempty"`
}

// Evidence is one file of a build's evidence folder.
type Evidence struct {
	Name   string `json:"name"`
	Path   string `json:"path"` // slash-separated, relative to the ledger root
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// BuildRef names one build's evidence folder.
type BuildRef struct {
	Template string `json:"template"`
	BuildID  string `json:"build_id"`
}

// PruneRecord records evidence folders removed under a retention setting.
type PruneRecord struct {
	Retention string     `json:"retention"`
	Before    string     `json:"before"`
	Removed   []BuildRef `json:"removed"`
}

// RepairRecord records what a repair did.
type RepairRecord struct {
	Sealed      []uint64     `json:"sealed,omitempty"`
	Quarantined []Quarantine `json:"quarantined,omitempty"`
	Checkpoint  string       `json:"checkpoint,omitempty"`
	RemovedTmp  []string     `json:"removed_tmp,omitempty"`
}

// Quarantine is a damaged tail moved out of entries.jsonl.
type Quarantine struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	SHA256 string `json:"sha256"`
}

var (
	kindRE = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$`)
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// validName reports whether s can be a template name or build ID: one safe
// path component.
func validName(s string) bool { return nameRE.MatchString(s) && s != "." && s != ".." }

func validHex256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// validate checks the fields Append fills and what each known kind needs.
func (e *Entry) validate() error {
	if e.V != 1 {
		return fmt.Errorf("unsupported version %d", e.V)
	}
	if !kindRE.MatchString(string(e.Kind)) {
		return fmt.Errorf("invalid kind %q", e.Kind)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.TS); err != nil || !strings.HasSuffix(e.TS, "Z") {
		return fmt.Errorf("invalid ts %q: want RFC 3339 UTC", e.TS)
	}
	if !validHex256(e.Prev) {
		return fmt.Errorf("invalid prev %q", e.Prev)
	}
	if e.Template != "" && !validName(e.Template) {
		return fmt.Errorf("invalid template name %q", e.Template)
	}
	if e.BuildID != "" && !validName(e.BuildID) {
		return fmt.Errorf("invalid build_id %q", e.BuildID)
	}
	if e.InputsSHA256 != "" && !validHex256(e.InputsSHA256) {
		return fmt.Errorf("invalid inputs_sha256 %q", e.InputsSHA256)
	}
	if e.Desired != nil && !validHex256(e.Desired.SHA256) {
		return fmt.Errorf("invalid desired.sha256 %q", e.Desired.SHA256)
	}
	for i, ev := range e.Evidence {
		if !validEvidencePath(ev.Path) || !validHex256(ev.SHA256) || ev.Size < 0 {
			return fmt.Errorf("invalid evidence[%d] %q", i, ev.Path)
		}
	}
	return e.validateKind()
}

func (e *Entry) validateKind() error {
	need := func(ok bool, what string) error {
		if !ok {
			return fmt.Errorf("%s entry needs %s", e.Kind, what)
		}
		return nil
	}
	switch e.Kind {
	case KindBuildStarted:
		return need(e.Template != "" && e.BuildID != "", "template and build_id")
	case KindBuildFinished:
		return need(e.Template != "" && e.BuildID != "" && e.Result != "", "template, build_id and result")
	case KindDecision:
		return need(e.Desired != nil, "desired")
	case KindDesiredRejected:
		return need(e.Desired != nil && e.Error != "", "desired and error")
	case KindRetentionPrune:
		return need(e.Prune != nil, "prune")
	case KindLedgerRepair:
		return need(e.Repair != nil, "repair")
	}
	return nil
}

// validEvidencePath accepts clean, relative, slash-separated paths below the
// ledger root and outside ledger/.
func validEvidencePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." {
		return false
	}
	return !strings.HasPrefix(p, ledgerDirName+"/")
}
