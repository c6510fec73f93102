package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPAESpecVector(t *testing.T) {
	// secure-systems-lab/dsse protocol.md test vector.
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; got != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	// Lengths are bytes, not characters.
	if got := string(PAE("tÿpe", []byte("é"))); got != "DSSEv1 5 tÿpe 2 é" {
		t.Fatalf("PAE with non-ASCII = %q", got)
	}
}

func TestEnvelopeSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	env := SignEnvelope(PayloadTypeInToto, []byte(`{"a":1}`), priv, "k")
	if p, err := OpenEnvelope(env, PayloadTypeInToto, []ed25519.PublicKey{pub}); err != nil || string(p) != `{"a":1}` {
		t.Fatalf("open: %q %v", p, err)
	}
	urlSafe := env
	urlSafe.Signatures = []Signature{{Sig: strings.TrimRight(base64.URLEncoding.EncodeToString(mustB64(t, env.Signatures[0].Sig)), "=")}}
	urlSafe.Payload = base64.RawURLEncoding.EncodeToString([]byte(`{"a":1}`))
	if _, err := OpenEnvelope(urlSafe, PayloadTypeInToto, []ed25519.PublicKey{pub}); err != nil {
		t.Fatalf("URL-safe base64 must be accepted: %v", err)
	}
	for name, tc := range map[string]struct {
		env  Envelope
		keys []ed25519.PublicKey
		want string
	}{
		"wrong key":        {env, []ed25519.PublicKey{other}, "does not verify"},
		"payload edited":   {Envelope{Payload: base64.StdEncoding.EncodeToString([]byte(`{"a":2}`)), PayloadType: env.PayloadType, Signatures: env.Signatures}, []ed25519.PublicKey{pub}, "does not verify"},
		"payloadType swap": {Envelope{Payload: env.Payload, PayloadType: "application/json", Signatures: env.Signatures}, []ed25519.PublicKey{pub}, "does not verify"},
		"no signature":     {Envelope{Payload: env.Payload, PayloadType: env.PayloadType}, []ed25519.PublicKey{pub}, "no signature"},
	} {
		if _, err := OpenEnvelope(tc.env, PayloadTypeInToto, tc.keys); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// Signed, but of another type: rejected after the signature check.
	typed := SignEnvelope("application/json", []byte(`{}`), priv, "k")
	if _, err := OpenEnvelope(typed, PayloadTypeInToto, []ed25519.PublicKey{pub}); err == nil || !strings.Contains(err.Error(), "payloadType") {
		t.Errorf("other payloadType: %v", err)
	}
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProvenanceRequiredFields decodes a real provenance file generically and
// checks every field in-toto Statement v1 and SLSA provenance v1 require.
func TestProvenanceRequiredFields(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	var env map[string]any
	if err := json.Unmarshal(f.read(t, "tpl-ubuntu-24.04", "b1", FileProvenance), &env); err != nil {
		t.Fatal(err)
	}
	if env["payloadType"] != "application/vnd.in-toto+json" {
		t.Fatalf("payloadType %v", env["payloadType"])
	}
	sigs, _ := env["signatures"].([]any)
	if len(sigs) != 1 || sigs[0].(map[string]any)["sig"] == "" {
		t.Fatalf("signatures %v", env["signatures"])
	}
	var st map[string]any
	if err := json.Unmarshal(mustB64(t, env["payload"].(string)), &st); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var cur any = st
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%s: not an object at %s", path, k)
			}
			cur = m[k]
		}
		return cur
	}
	if get("_type") != "https://in-toto.io/Statement/v1" || get("predicateType") != "https://slsa.dev/provenance/v1" {
		t.Fatalf("types: %v %v", get("_type"), get("predicateType"))
	}
	subj, _ := get("subject").([]any)
	manifest := f.entries(t)[2].Evidence
	m, _ := findEvidence(manifest, FileManifest)
	if len(subj) != 1 || subj[0].(map[string]any)["digest"].(map[string]any)["sha256"] != m.SHA256 {
		t.Fatalf("subject %v, want the manifest %s", subj, m.SHA256)
	}
	for _, p := range []string{"predicate.buildDefinition.buildType", "predicate.runDetails.builder.id"} {
		if s, _ := get(p).(string); s == "" || !strings.Contains(s, ":") {
			t.Errorf("%s = %v, want a URI", p, get(p))
		}
	}
	if _, ok := get("predicate.buildDefinition.externalParameters").(map[string]any); !ok {
		t.Error("externalParameters missing")
	}
	for _, p := range []string{"predicate.runDetails.metadata.startedOn", "predicate.runDetails.metadata.finishedOn"} {
		s, _ := get(p).(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil || !strings.HasSuffix(s, "Z") {
			t.Errorf("%s = %q: want RFC 3339 UTC", p, s)
		}
	}
	if get("predicate.runDetails.metadata.invocationId") != "b1" {
		t.Errorf("invocationId %v", get("predicate.runDetails.metadata.invocationId"))
	}
	deps, _ := get("predicate.buildDefinition.resolvedDependencies").([]any)
	if len(deps) != 2 || deps[0].(map[string]any)["digest"].(map[string]any)["gitCommit"] == nil {
		t.Errorf("resolvedDependencies %v", deps)
	}
	// And checkStatement, the verifier's view, rejects what is missing.
	var typed Statement
	_ = json.Unmarshal(mustB64(t, env["payload"].(string)), &typed)
	if err := checkStatement(typed, m.SHA256, "b1"); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(s *Statement){
		"_type":          func(s *Statement) { s.Type = "" },
		"subject":        func(s *Statement) { s.Subject = nil },
		"digest":         func(s *Statement) { s.Subject[0].Digest = nil },
		"predicateType":  func(s *Statement) { s.PredicateType = "x" },
		"buildType":      func(s *Statement) { s.Predicate.BuildDefinition.BuildType = "" },
		"externalParams": func(s *Statement) { s.Predicate.BuildDefinition.ExternalParameters = nil },
		"builder.id":     func(s *Statement) { s.Predicate.RunDetails.Builder.ID = "" },
		"subject digest": func(s *Statement) { s.Subject[0].Digest = map[string]string{"sha256": sha("x")} },
	} {
		var s Statement
		_ = json.Unmarshal(mustB64(t, env["payload"].(string)), &s)
		mutate(&s)
		if err := checkStatement(s, m.SHA256, "b1"); err == nil {
			t.Errorf("missing %s accepted", name)
		}
	}
}
