package ledger

import (
	"fmt"
	"time"
)

// in-toto Statement v1 with a SLSA provenance v1 predicate, as plain structs.
const (
	StatementType     = "https://in-toto.io/Statement/v1"
	PredicateSLSA     = "https://slsa.dev/provenance/v1"
	BuildTypePackerV1 = "urn:templated:buildtype:packer-proxmox:v1"
)

// Statement is an in-toto Statement v1.
type Statement struct {
	Type          string               `json:"_type"`
	Subject       []ResourceDescriptor `json:"subject"`
	PredicateType string               `json:"predicateType"`
	Predicate     Provenance           `json:"predicate"`
}

// ResourceDescriptor is an in-toto ResourceDescriptor (the fields we use).
type ResourceDescriptor struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

// Provenance is a SLSA provenance v1 predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is SLSA's buildDefinition.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   map[string]any       `json:"externalParameters"`
	InternalParameters   map[string]any       `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// RunDetails is SLSA's runDetails.
type RunDetails struct {
	Builder    Builder              `json:"builder"`
	Metadata   *BuildMetadata       `json:"metadata,omitempty"`
	Byproducts []ResourceDescriptor `json:"byproducts,omitempty"`
}

// Builder is SLSA's builder.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// BuildMetadata is SLSA's runDetails.metadata plus templated extension
// fields (named templated_*, as SLSA asks).
type BuildMetadata struct {
	InvocationID string `json:"invocationId"`
	StartedOn    string `json:"startedOn,omitempty"`
	FinishedOn   string `json:"finishedOn,omitempty"`
	Result       string `json:"templated_result,omitempty"`
	Reason       string `json:"templated_rebuildReason,omitempty"`
	CIRun        string `json:"templated_ciRun,omitempty"`
}

// provenanceFor builds the statement for one build. manifest and byproducts
// are evidence items already hashed.
func provenanceFor(b *BuildEvidence, info BuildInfo, builderID string, manifest Evidence, byproducts []Evidence) Statement {
	ext := map[string]any{"template": b.Template}
	if info.Release != "" {
		ext["release"] = info.Release
	}
	if info.Desired != nil {
		ext["desiredFile"] = info.Desired.File
		ext["desiredSha256"] = info.Desired.SHA256
	}
	internal := map[string]any{"buildId": b.BuildID}
	if v := info.Versions; v != nil {
		internal["packerVersion"] = v.Packer
		internal["templatedVersion"] = v.Templated
		if len(v.Plugins) > 0 {
			internal["plugins"] = v.Plugins
		}
	}
	if p := info.Proxmox; p != nil {
		internal["node"] = p.Node
		internal["reservedVmid"] = p.ReservedVMID
		internal["stagingVmid"] = p.StagingVMID
	}
	var deps []ResourceDescriptor
	if g := info.Git; g != nil && g.Commit != "" {
		internal["gitDirty"] = g.Dirty
		uri := "git+" + g.Repo
		if g.Repo == "" {
			uri = ""
		}
		src := ResourceDescriptor{Name: "source", URI: uri, Digest: map[string]string{"gitCommit": g.Commit}}
		if g.Fetched {
			if uri != "" && g.Ref != "" {
				src.URI += "@" + g.Ref
			}
			src.Annotations = map[string]any{"fetchedAt": g.FetchedAt}
			if g.Signer != "" {
				src.Annotations["signer"] = g.Signer
			}
		}
		deps = append(deps, src)
	}
	if info.InputsSHA256 != "" {
		deps = append(deps, ResourceDescriptor{Name: "templated-inputs", Digest: map[string]string{"sha256": info.InputsSHA256}})
	}
	for _, im := range info.Images {
		d := ResourceDescriptor{Name: "image:" + im.Name, URI: im.URI, Digest: im.Digest}
		if im.File != "" || im.Volume != "" || im.ChecksumURL != "" {
			d.Annotations = map[string]any{}
			for k, v := range map[string]string{"file": im.File, "volume": im.Volume, "checksumUrl": im.ChecksumURL} {
				if v != "" {
					d.Annotations[k] = v
				}
			}
		}
		deps = append(deps, d)
	}
	meta := &BuildMetadata{InvocationID: b.BuildID, StartedOn: rfc3339(info.StartedAt),
		FinishedOn: rfc3339(info.FinishedAt), Result: info.Result}
	if info.Reason != nil {
		meta.Reason = info.Reason.Code
	}
	if info.CI != nil {
		meta.CIRun = info.CI.URL
	}
	builder := Builder{ID: builderID}
	if info.Versions != nil && info.Versions.Templated != "" {
		builder.Version = map[string]string{"templated": info.Versions.Templated}
	}
	prods := make([]ResourceDescriptor, len(byproducts))
	for i, e := range byproducts {
		prods[i] = ResourceDescriptor{Name: e.Name, Digest: map[string]string{"sha256": e.SHA256}}
	}
	return Statement{
		Type:          StatementType,
		Subject:       []ResourceDescriptor{{Name: manifest.Name, Digest: map[string]string{"sha256": manifest.SHA256}}},
		PredicateType: PredicateSLSA,
		Predicate: Provenance{
			BuildDefinition: BuildDefinition{BuildType: BuildTypePackerV1, ExternalParameters: ext,
				InternalParameters: internal, ResolvedDependencies: deps},
			RunDetails: RunDetails{Builder: builder, Metadata: meta, Byproducts: prods},
		},
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// checkStatement checks what in-toto Statement v1 and SLSA provenance v1
// require, and that the subject is the manifest with the recorded digest.
func checkStatement(st Statement, manifestSHA256, buildID string) error {
	switch {
	case st.Type != StatementType:
		return fmt.Errorf("_type is %q, want %q", st.Type, StatementType)
	case len(st.Subject) == 0:
		return fmt.Errorf("no subject")
	case st.PredicateType != PredicateSLSA:
		return fmt.Errorf("predicateType is %q, want %q", st.PredicateType, PredicateSLSA)
	case st.Predicate.BuildDefinition.BuildType == "":
		return fmt.Errorf("no buildDefinition.buildType")
	case st.Predicate.BuildDefinition.ExternalParameters == nil:
		return fmt.Errorf("no buildDefinition.externalParameters")
	case st.Predicate.RunDetails.Builder.ID == "":
		return fmt.Errorf("no runDetails.builder.id")
	}
	for i, s := range st.Subject {
		if len(s.Digest) == 0 {
			return fmt.Errorf("subject %d has no digest", i)
		}
	}
	if st.Subject[0].Digest["sha256"] != manifestSHA256 {
		return fmt.Errorf("subject digest sha256:%s is not the manifest's sha256:%s", st.Subject[0].Digest["sha256"], manifestSHA256)
	}
	if m := st.Predicate.RunDetails.Metadata; m == nil || m.InvocationID != buildID {
		return fmt.Errorf("invocationId does not name build %s", buildID)
	}
	return nil
}
