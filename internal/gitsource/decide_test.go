package gitsource

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func TestForcePushIsRefusedUntilAllowed(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	base := up.commitAndPush("a: 1\n")
	applied := up.commitAndPush("a: 2\n")
	h := newHarness(t, up.fileURL(), nil)
	h.mustSync(t)

	rewritten := up.rewrite(base, "a: rewritten\n")
	for range 2 {
		res := h.mustSync(t)
		if res.Changed || res.Refused == nil || res.Refused.Code != RefusedRewrite {
			t.Fatalf("force-push: result %+v, want a %s refusal", res, RefusedRewrite)
		}
	}
	refused := h.rec.byKind("refused", RefusedRewrite)
	if len(refused) != 1 || refused[0].Revision.Commit != rewritten || refused[0].Previous != applied {
		t.Fatalf("refusals recorded over two syncs = %+v, want one for %s", refused, rewritten)
	}
	expect(t, "in force", inForce(t, h.Source), applied)
	expect(t, "content", readFile(t, filepath.Join(h.Root(), "desired/templates.yaml")), "a: 2\n")
	expect(t, "refusals counted", metricValue(t, h.m.refusals.WithLabelValues(RefusedRewrite)), 1)
	if st := h.Status(); st.Refused == nil || st.Refused.Code != RefusedRewrite || !strings.Contains(st.Refused.Detail, "does not descend") {
		t.Errorf("status refused = %+v", st.Refused)
	}

	// An allowance for another commit does not let this one through.
	must(t, AllowRewrite(h.cfg.Dir, strings.Repeat("ab", 20)))
	if res := h.mustSync(t); res.Changed {
		t.Fatal("an allowance for another commit let the rewrite through")
	}
	if _, err := os.Stat(filepath.Join(h.cfg.Dir, "allow-rewrite")); err != nil {
		t.Errorf("the allowance for another commit is gone: %v", err)
	}

	must(t, AllowRewrite(h.cfg.Dir, rewritten[:9]))
	expect(t, "allowance", strings.TrimSpace(readFile(t, filepath.Join(h.cfg.Dir, "allow-rewrite"))), rewritten)
	res := h.mustSync(t)
	if !res.Changed || res.Revision.Commit != rewritten {
		t.Fatalf("allowed rewrite: %+v", res)
	}
	acc := h.rec.byKind("accepted", "rewrite-allowed")
	if len(acc) != 1 || acc[0].Previous != applied {
		t.Errorf("accepted events = %+v", acc)
	}
	if _, err := os.Stat(filepath.Join(h.cfg.Dir, "allow-rewrite")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the used allowance is still there: %v", err)
	}
	if h.Status().Refused != nil {
		t.Error("the refusal still stands after a newer revision was accepted")
	}

	// The allowance was for once.
	again := up.rewrite(base, "a: again\n")
	if res := h.mustSync(t); res.Refused == nil || res.Refused.Code != RefusedRewrite || res.Revision.Commit != again {
		t.Errorf("second rewrite: %+v", res)
	}
	expect(t, "in force", inForce(t, h.Source), rewritten)
}

func TestAllowRewriteChecksTheCommit(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	up.commitAndPush("a: 1\n")
	h := newHarness(t, up.fileURL(), nil)
	h.mustSync(t)
	for _, bad := range []string{"", "abc", "xyz1234", strings.Repeat("a", 41), "0000000"} {
		if err := AllowRewrite(h.cfg.Dir, bad); err == nil {
			t.Errorf("AllowRewrite(%q) accepted", bad)
		}
	}
	if err := AllowRewrite(filepath.Join(t.TempDir(), "missing"), strings.Repeat("a", 40)); err == nil {
		t.Error("AllowRewrite into a missing directory succeeded")
	}
}

// fakeVerifier accepts signatures equal to good and keeps what it saw.
type fakeVerifier struct {
	mu       sync.Mutex
	good     string
	calls    int
	payloads []string
}

func (v *fakeVerifier) Verify(signature string, payload []byte) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.calls++
	v.payloads = append(v.payloads, string(payload))
	if signature != v.good {
		return "", errors.New("signed by a key not allowed")
	}
	return "alice SHA256:fake", nil
}

type fixedSigner string

func (s fixedSigner) Sign(io.Reader) ([]byte, error) { return []byte(s), nil }

// signedCommit commits the working clone with go-git, signed with sig.
func (u *upstream) signedCommitAndPush(t *testing.T, content, sig string) string {
	t.Helper()
	u.write("desired/templates.yaml", content, 0o644)
	repo, err := git.PlainOpen(u.work)
	must(t, err)
	wt, err := repo.Worktree()
	must(t, err)
	must(t, wt.AddWithOptions(&git.AddOptions{All: true}))
	u.clock = u.clock.Add(60e9)
	who := &object.Signature{Name: "Tester", Email: "tester@example.invalid", When: u.clock}
	h, err := wt.Commit("signed "+content, &git.CommitOptions{Author: who, Committer: who, Signer: fixedSigner(sig)})
	must(t, err)
	u.push(false)
	return h.String()
}

func TestVerifierDecides(t *testing.T) {
	const good = "-----BEGIN SSH SIGNATURE-----\nZ29vZA==\n-----END SSH SIGNATURE-----\n"
	const bad = "-----BEGIN SSH SIGNATURE-----\nYmFk\n-----END SSH SIGNATURE-----\n"
	up := newUpstream(t, t.TempDir())
	signed := up.signedCommitAndPush(t, "a: 1\n", good)
	v := &fakeVerifier{good: good}
	h := newHarness(t, up.fileURL(), func(c *Config) { c.Verifier = v })

	res := h.mustSync(t)
	if !res.Changed || res.Revision.Signer != "alice SHA256:fake" {
		t.Fatalf("signed commit: %+v", res)
	}
	// The payload is the commit as git stores it, without its signature.
	raw := up.git(up.bare, "cat-file", "commit", signed)
	var want []string
	inSig := false
	for _, line := range strings.Split(raw, "\n") {
		if strings.HasPrefix(line, "gpgsig ") || (inSig && strings.HasPrefix(line, " ")) {
			inSig = true
			continue
		}
		inSig = false
		want = append(want, line)
	}
	expect(t, "payload", strings.TrimSpace(v.payloads[0]), strings.Join(want, "\n"))
	if !strings.Contains(raw, "gpgsig") || strings.Contains(v.payloads[0], "SSH SIGNATURE") {
		t.Errorf("the fixture is not signed, or the payload holds the signature:\n%s", v.payloads[0])
	}

	calls := v.calls
	up.commitAndPush("a: unsigned\n")
	res = h.mustSync(t)
	if res.Refused == nil || res.Refused.Code != RefusedUnsigned || res.Changed {
		t.Fatalf("unsigned commit: %+v", res)
	}
	expect(t, "verifier calls for an unsigned commit", v.calls, calls)

	wrong := up.signedCommitAndPush(t, "a: wrong signer\n", bad)
	res = h.mustSync(t)
	if res.Refused == nil || res.Refused.Code != RefusedSigner || !strings.Contains(res.Refused.Detail, "not allowed") {
		t.Fatalf("wrongly signed commit: %+v", res)
	}
	expect(t, "refused commit", res.Refused.Revision.Commit, wrong)
	expect(t, "in force", inForce(t, h.Source), signed)
	if _, err := os.Stat(filepath.Join(h.cfg.Dir, "checkouts", wrong)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused signature was checked out: %v", err)
	}
	expect(t, "refusals recorded", len(h.rec.byKind("refused", "")), 2)
}

func TestValidateRefusal(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	first := up.commitAndPush("a: 1\n")
	var seen []string
	h := newHarness(t, up.fileURL(), func(c *Config) {
		c.Validate = func(_ context.Context, root string) error {
			b, err := os.ReadFile(filepath.Join(root, "desired/templates.yaml"))
			if err != nil {
				return err
			}
			seen = append(seen, string(b))
			if strings.Contains(string(b), "broken") {
				return errors.New("templates.yaml: line 1: " + strings.Repeat("x", 20<<10))
			}
			return nil
		}
	})
	h.mustSync(t)
	broken := up.commitAndPush("broken\n")
	for range 2 {
		res := h.mustSync(t)
		if res.Refused == nil || res.Refused.Code != RefusedInvalid || res.Changed {
			t.Fatalf("invalid desired file: %+v", res)
		}
		if len(res.Refused.Detail) > maxDetail+64 || !strings.HasPrefix(res.Refused.Detail, "templates.yaml: line 1") {
			t.Errorf("detail is %d bytes, starting %.40q", len(res.Refused.Detail), res.Refused.Detail)
		}
	}
	expect(t, "validated", seen, []string{"a: 1\n", "broken\n", "broken\n"})
	expect(t, "in force", inForce(t, h.Source), first)
	if ev := h.rec.byKind("refused", RefusedInvalid); len(ev) != 1 || ev[0].Revision.Commit != broken {
		t.Errorf("recorded refusals = %+v", ev)
	}
	fixed := up.commitAndPush("a: 2\n")
	if res := h.mustSync(t); !res.Changed || res.Revision.Commit != fixed {
		t.Errorf("after the fix: %+v", res)
	}
}

func TestSymlinkEscapingCheckoutIsRefused(t *testing.T) {
	for name, links := range map[string]map[string]string{
		"absolute": {"desired/passwd": "/etc/passwd"},
		"dotdot":   {"desired/up": "../../x"},
		// lexically a/b/x, but up resolves to the top, and the top's
		// parent is outside
		"chained": {"a/b/up": "../..", "a/b/esc": "up/../x"},
	} {
		t.Run(name, func(t *testing.T) {
			up := newUpstream(t, t.TempDir())
			first := up.commitAndPush("a: 1\n")
			h := newHarness(t, up.fileURL(), nil)
			h.mustSync(t)
			for l, target := range links {
				up.link(l, target)
			}
			bad, _ := up.commit("escape")
			up.push(false)
			res := h.mustSync(t)
			if res.Refused == nil || res.Refused.Code != RefusedInvalid || !strings.Contains(res.Refused.Detail, "outside") {
				t.Fatalf("escaping symlink: %+v", res.Refused)
			}
			expect(t, "in force", inForce(t, h.Source), first)
			entries, err := os.ReadDir(filepath.Join(h.cfg.Dir, "checkouts"))
			must(t, err)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), bad) {
					t.Errorf("checkout %s left behind", e.Name())
				}
			}
		})
	}
}

func TestFollowInside(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	for l, target := range map[string]string{
		"a/b/top": "../..", "a/b/sib": "../c", "a/loop1": "loop2", "a/loop2": "loop1",
		"a/b/out": "top/..", "a/b/abs": "/tmp", "a/b/dangling": "../../nowhere/x",
		"a/b/danglingout": "nowhere/../../../..", "a/b/viaLink": "top/a/b/sib",
	} {
		must(t, os.Symlink(target, filepath.Join(root, l)))
	}
	for link, ok := range map[string]bool{
		"a/b/top": true, "a/b/sib": true, "a/b/dangling": true, "a/b/viaLink": true,
		"a/b/out": false, "a/b/abs": false, "a/loop1": false, "a/b/danglingout": false,
	} {
		err := followInside(root, link)
		if (err == nil) != ok {
			t.Errorf("followInside(%s) = %v, want ok %v", link, err, ok)
		}
	}
}
