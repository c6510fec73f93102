package gitsource

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-version"
)

func TestTagAndSemverRefs(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	tags := map[string]string{}
	for i, tag := range []string{"v1.0.0", "v1.2.0", "1.3.0", "v1.4.0-rc.1", "v2.0.0", "v1.9", "release"} {
		tags[tag] = up.commitAndPush(tag + "\n")
		if i%2 == 0 {
			up.git(up.work, "tag", "-a", tag, "-m", "release "+tag) // annotated
		} else {
			up.git(up.work, "tag", tag) // lightweight
		}
	}
	up.git(up.work, "push", "--quiet", "origin", "--tags")

	for _, tc := range []struct {
		ref, want, resolved string
	}{
		{"tag:v1.2.0", "v1.2.0", "refs/tags/v1.2.0"},
		{"refs/tags/v1.0.0", "v1.0.0", "refs/tags/v1.0.0"},
		{"semver:>= 1.0, < 2.0", "1.3.0", "refs/tags/1.3.0"}, // not the pre-release, not v1.9
		{"semver:>= 1.4.0-rc.1, < 2.0", "v1.4.0-rc.1", "refs/tags/v1.4.0-rc.1"},
		{"semver:~> 1.0", "1.3.0", "refs/tags/1.3.0"},
		{"semver:>= 1.0", "v2.0.0", "refs/tags/v2.0.0"},
		{"semver:< 1.1", "v1.0.0", "refs/tags/v1.0.0"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			h := newHarness(t, up.fileURL(), func(c *Config) { c.Ref = tc.ref })
			res := h.mustSync(t)
			if !res.Changed || res.Revision.Commit != tags[tc.want] {
				t.Fatalf("resolved to %s (%+v), want %s", res.Revision.Commit, res.Refused, tc.want)
			}
			expect(t, "resolved", res.Revision.Resolved, tc.resolved)
			expect(t, "ref", res.Revision.Ref, tc.ref)
			expect(t, "content", readFile(t, h.Root()+"/desired/templates.yaml"), tc.want+"\n")
		})
	}

	t.Run("follows a new tag in range", func(t *testing.T) {
		h := newHarness(t, up.fileURL(), func(c *Config) { c.Ref = "semver:>= 1.0, < 2.0" })
		h.mustSync(t)
		newer := up.commitAndPush("v1.5.0\n")
		up.git(up.work, "tag", "v1.5.0")
		up.git(up.work, "push", "--quiet", "origin", "v1.5.0")
		if res := h.mustSync(t); !res.Changed || res.Revision.Commit != newer {
			t.Errorf("after tagging v1.5.0: %+v", res)
		}
	})

	for _, ref := range []string{"semver:> 5.0", "tag:v9.9.9", "no-such-branch"} {
		t.Run("missing "+ref, func(t *testing.T) {
			h := newHarness(t, up.fileURL(), func(c *Config) { c.Ref = ref })
			for range 2 {
				res, err := h.Sync(t.Context())
				if err != nil || !res.Fetched || res.Refused == nil || res.Refused.Code != RefusedRef {
					t.Fatalf("Sync = %+v, %v; want a %s refusal", res, err, RefusedRef)
				}
			}
			expect(t, "recorded", len(h.rec.byKind("refused", RefusedRef)), 1)
			expect(t, "counted", metricValue(t, h.m.refusals.WithLabelValues(RefusedRef)), 1)
			if _, _, ok := h.Snapshot(); ok {
				t.Error("a revision in force without the ref")
			}
		})
	}
}

func TestParseRef(t *testing.T) {
	for ref, want := range map[string]string{
		"main": "branch main", "refs/heads/release/1": "branch release/1", "tag:v1": "tag v1",
		"refs/tags/v1.2.0": "tag v1.2.0", "semver:>= 1.2, < 2.0": "semver >= 1.2, < 2.0",
		"": "error", "semver:banana": "error", "refs/pull/1/head": "error", "tag:": "error",
		"bad..name": "error", "main*": "error", "refs/heads/": "error",
	} {
		r, err := parseRef(ref)
		got := "error"
		if err == nil {
			got = [...]string{"branch", "tag", "semver"}[r.kind] + " " + r.name + r.label
		}
		expect(t, "parseRef("+ref+")", got, want)
	}
}

func TestParseURLMovesCredentials(t *testing.T) {
	for _, tc := range []struct {
		raw, clean, user, password string
		ssh                        bool
	}{
		{"https://host/org/repo.git", "https://host/org/repo.git", "", "", false},
		{"https://bob:s3cret-pass@host/org/repo.git", "https://host/org/repo.git", "bob", "s3cret-pass", false},
		{"http://tok3n-only@127.0.0.1:8080/org/repo.git", "http://127.0.0.1:8080/org/repo.git", "tok3n-only", "", false},
		{"ssh://git:pw-in-ssh-url@host:2222/org/repo.git", "ssh://git@host:2222/org/repo.git", "", "pw-in-ssh-url", true},
		{"git@github.com:org/repo.git", "git@github.com:org/repo.git", "", "", true},
		{"file:///srv/git/repo.git", "file:///srv/git/repo.git", "", "", false},
	} {
		u, err := parseURL(tc.raw)
		if err != nil {
			t.Errorf("parseURL(%s): %v", tc.raw, err)
			continue
		}
		expect(t, tc.raw+" clean", u.clean, tc.clean)
		expect(t, tc.raw+" user", u.user, tc.user)
		expect(t, tc.raw+" password", u.password, tc.password)
		expect(t, tc.raw+" ssh", u.ssh, tc.ssh)
	}
	for _, raw := range []string{"", "ftp://host/repo", "relative/path", "/abs/path", "https://host", "file://otherhost/x",
		"https://user:p%zzass@host/x"} {
		_, err := parseURL(raw)
		if err == nil {
			t.Errorf("parseURL(%q) accepted", raw)
		} else if strings.Contains(err.Error(), "ass@") {
			t.Errorf("parseURL(%q) error shows the password: %v", raw, err)
		}
	}
	if _, err := cleanPath("../x"); err == nil {
		t.Error("a path above the repository accepted")
	}
}

func TestInRangePreReleases(t *testing.T) {
	for _, tc := range []struct {
		rng string
		in  []string
		out []string
	}{
		{">= 1.0, < 2.0", []string{"1.0.0", "1.9.9"}, []string{"1.5.0-rc.1", "2.0.0", "0.9.0"}},
		{">= 1.4.0-rc.1, < 2.0", []string{"1.4.0-rc.1", "1.4.0-rc.2", "1.4.0", "1.8.0"}, []string{"1.4.0-beta", "1.5.0-rc.1", "2.0.0-rc.1", "2.0.0"}},
		{"< 1.4.0-rc.3", []string{"1.4.0-rc.2", "1.3.0"}, []string{"1.4.0-rc.3", "1.4.0", "1.3.1-rc.1"}},
		{"~> 1.2", []string{"1.2.0", "1.9.0"}, []string{"1.3.0-rc.1", "2.0.0"}},
	} {
		rng, err := version.NewConstraint(tc.rng)
		must(t, err)
		for _, v := range tc.in {
			if !inRange(rng, version.Must(version.NewSemver(v))) {
				t.Errorf("%s not in %q", v, tc.rng)
			}
		}
		for _, v := range tc.out {
			if inRange(rng, version.Must(version.NewSemver(v))) {
				t.Errorf("%s in %q", v, tc.rng)
			}
		}
	}
}

func TestFollows(t *testing.T) {
	for _, c := range []struct {
		ref, push string
		want      bool
	}{
		{"main", "refs/heads/main", true},
		{"refs/heads/main", "refs/heads/main", true},
		{"main", "refs/heads/feature", false},
		{"main", "refs/tags/v1.0.0", false},
		{"tag:v1.0.0", "refs/tags/v1.0.1", true},
		{"semver:>= 1.0", "refs/tags/v2.0.0", true},
		{"semver:>= 1.0", "refs/heads/main", false},
	} {
		r, err := parseRef(c.ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&Source{ref: r}).Follows(c.push); got != c.want {
			t.Errorf("%s follows %s = %v, want %v", c.ref, c.push, got, c.want)
		}
	}
}
