package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"templated/internal/redact"
)

var pageNow = time.Date(2026, 12, 5, 10, 30, 0, 0, time.UTC)

// pageStatus is a status with one template of each kind: built and
// current (with a replica and clones), failed (with markup in its error),
// suspended and never built.
func pageStatus() Status {
	return Status{
		Version: StatusVersion, State: phaseIdle, Message: "idle; next patch rebuild tpl-ok at 2026-12-10 03:00 UTC",
		Ready: true, Now: pageNow, LastObservation: pageNow.Add(-time.Minute),
		Desired: DesiredStatus{Path: "desired/templates.yaml", SHA256: "3f1c2e44a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c",
			LoadedAt: pageNow.Add(-time.Hour)},
		LastRun: &RunStatus{Trigger: "file change", Started: pageNow.Add(-10 * time.Minute), DurationSeconds: 95.5, Result: resultFailure,
			Error: "tpl-bad: packer exited 1"},
		LedgerAudit:      &AuditResult{Status: "intact", Intact: true, Entries: 41, At: pageNow.Add(-2 * time.Hour)},
		LedgerCheckpoint: &CheckpointStatus{Size: 42, RootHash: "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=", At: pageNow.Add(-10 * time.Minute)},
		Templates: []TemplateStatus{
			{Name: "tpl-ok", VMID: 9000, Node: "pve1", Replicas: []ReplicaStatus{{Name: "tpl-ok-pve2", Node: "pve2", VMID: 9100}},
				Release: "1.3.0", BuiltRelease: "1.3.0", BuiltAt: pageNow.Add(-(3*24 + 4) * time.Hour), Action: "keep", Drift: "none",
				LastResult: "success", LastBuildAt: pageNow.Add(-(3*24 + 4) * time.Hour), LastBuildID: "20261202T063000-1a2b3c",
				NextRebuild: pageNow.Add((5*24 + 2) * time.Hour), ClonesCurrent: 4, ClonesOutdated: 7},
			{Name: "tpl-bad", VMID: 9001, Node: "pve1", Release: "2.0.0", BuiltRelease: "1.0.0", BuiltAt: pageNow.Add(-40 * 24 * time.Hour),
				Action: "rebuild", Reason: "release 1.0.0 → 2.0.0", LastResult: "failure", LastBuildAt: pageNow.Add(-9 * time.Minute),
				LastBuildID: "20261205T102000-9f8e7d", LastError: `packer exited 1: <script>alert("x")</script> storage 'local-lvm' is full`,
				NextRebuild: pageNow.Add(-time.Hour), ConsecutiveFailedBuilds: 1},
			{Name: "tpl-stuck", VMID: 9002, Node: "pve2", Release: "1.0.0", LastResult: "failure", LastError: "clone failed",
				Suspended: true, SuspendReason: "3 failed builds in a row", ConsecutiveFailedBuilds: 3},
			{Name: "tpl-new", VMID: 9003, Node: "pve1", Release: "1.0.0", LastResult: "none"},
		},
	}
}

func renderPage(t testing.TB, st Status) string {
	t.Helper()
	var b bytes.Buffer
	if err := writePage(&b, st); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// row is the <tr> of the template named name.
func row(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="t-` + regexp.QuoteMeta(name) + `">(.*?)</tr>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no row for %s", name)
	}
	return m[1]
}

// cell is the text of the cell labelled label in a row.
func cell(t *testing.T, r, label string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<td data-label="` + regexp.QuoteMeta(label) + `">(.*?)</td>`).FindStringSubmatch(r)
	if m == nil {
		t.Fatalf("no %q cell in %s", label, r)
	}
	return m[1]
}

func TestStatusPageStructure(t *testing.T) {
	page := renderPage(t, pageStatus())
	for _, want := range []string{
		"<!doctype html>\n<html lang=\"en\">", `<meta charset="utf-8">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<meta http-equiv="refresh" content="30">`, `<title>templated: idle</title>`,
		`<h1>templated <span class="badge ok">idle</span></h1>`,
		`<caption>4 desired template(s): 1 ok, 1 failed, 1 suspended, 1 without a build yet.</caption>`,
		`As of <time datetime="2026-12-05T10:30:00Z">2026-12-05T10:30:00Z</time>. Ready.`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	h2 := regexp.MustCompile(`<h2 id="[a-z-]+">([^<]+)</h2>`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, m := range h2 {
		got = append(got, m[1])
	}
	if strings.Join(got, "|") != "Templates|Last run|Ledger|Desired state" {
		t.Errorf("h2 headings %q", got)
	}
	if n := strings.Count(page, "<h1"); n != 1 {
		t.Errorf("%d h1 elements", n)
	}
	if n := strings.Count(page, `<th scope="col">`); n != 7 {
		t.Errorf("%d column headers, want 7", n)
	}
	// Every cell of the body is labelled for the phone layout.
	if n, rows := strings.Count(page, "<td data-label="), 4; n != rows*6 || strings.Count(page, "<td>") != 0 {
		t.Errorf("%d labelled cells, want %d", n, rows*6)
	}
	// Read-only and self-contained: no script, form, control or external
	// reference; the only links are the JSON and the metrics.
	for _, bad := range []string{"<script", "<form", "<button", "<input", "<select", "<textarea", "<iframe", "<img", "<link rel=\"stylesheet\"", "@import", "url("} {
		if strings.Contains(strings.ToLower(page), strings.ToLower(bad)) {
			t.Errorf("page contains %s", bad)
		}
	}
	if m := regexp.MustCompile(`\son[a-z]+=`).FindString(page); m != "" {
		t.Errorf("page has an event handler attribute %q", m)
	}
	refs := regexp.MustCompile(`(?:href|src|action)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	for _, m := range refs {
		if m[1] != "data:," && m[1] != "/status" && m[1] != "/metrics" {
			t.Errorf("page refers to %q", m[1])
		}
	}
	// Times: UTC ISO 8601 in a <time> element, its text the same.
	times := regexp.MustCompile(`<time datetime="([^"]+)">([^<]+)</time>`).FindAllStringSubmatch(page, -1)
	if len(times) < 10 {
		t.Errorf("%d <time> elements", len(times))
	}
	for _, m := range times {
		if _, err := time.Parse(time.RFC3339, m[1]); err != nil || !strings.HasSuffix(m[1], "Z") || m[2] != m[1] {
			t.Errorf("time %q shown as %q", m[1], m[2])
		}
	}
}

func TestStatusPageTemplates(t *testing.T) {
	page := renderPage(t, pageStatus())
	ok := row(t, page, "tpl-ok")
	for label, want := range map[string][]string{
		"VMID and node":   {"<li>9000 on pve1</li>", "<li>9100 on pve2 <span class=\"muted\">(replica)</span></li>"},
		"Release":         {"1.3.0"},
		"Age":             {"3d 4h", `built <time datetime="2026-12-02T06:30:00Z">`},
		"Next rebuild":    {`<time datetime="2026-12-10T12:30:00Z">`, "in 5d 2h"},
		"Last result":     {`<span class="badge ok">ok</span>`, "build <code>20261202T063000-1a2b3c</code>", "Last run decided: keep"},
		"Outdated clones": {"7 <span class=\"muted\">(4 current)</span>"},
	} {
		c := cell(t, ok, label)
		for _, w := range want {
			if !strings.Contains(c, w) {
				t.Errorf("tpl-ok %s: %q lacks %q", label, c, w)
			}
		}
	}
	if !strings.Contains(ok, `<th scope="row" data-label="Template">tpl-ok</th>`) {
		t.Errorf("tpl-ok has no row header: %s", ok)
	}

	bad := cell(t, row(t, page, "tpl-bad"), "Last result")
	for _, w := range []string{`<span class="badge bad">failed</span>`, "build <code>20261205T102000-9f8e7d</code>",
		"storage &#39;local-lvm&#39; is full", "Last run decided: rebuild (release 1.0.0 → 2.0.0)",
		"packer exited 1: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"} {
		if !strings.Contains(bad, w) {
			t.Errorf("tpl-bad last result %q lacks %q", bad, w)
		}
	}
	// The failed rebuild left release 1.0.0 at the VMID: that is the
	// release shown, the desired one below it.
	if rel := cell(t, row(t, page, "tpl-bad"), "Release"); rel != `1.0.0<br><span class="muted">desired 2.0.0</span>` {
		t.Errorf("tpl-bad release %q, want the built 1.0.0 and the desired 2.0.0", rel)
	}
	if rel := cell(t, ok, "Release"); rel != "1.3.0" {
		t.Errorf("tpl-ok release %q, want 1.3.0 alone", rel)
	}
	if next := cell(t, row(t, page, "tpl-bad"), "Next rebuild"); !strings.Contains(next, "due now") {
		t.Errorf("tpl-bad next rebuild %q, want due now", next)
	}
	stuck := cell(t, row(t, page, "tpl-stuck"), "Last result")
	if !strings.Contains(stuck, `<span class="badge bad">suspended</span>`) || !strings.Contains(stuck, "Suspended after 3 failed build(s): 3 failed builds in a row") {
		t.Errorf("tpl-stuck last result %q", stuck)
	}
	fresh := row(t, page, "tpl-new")
	if c := cell(t, fresh, "Last result"); !strings.Contains(c, `<span class="badge neutral">no build yet</span>`) || strings.Contains(c, "build <code>") {
		t.Errorf("tpl-new last result %q", c)
	}
	if c := cell(t, fresh, "Age"); c != "unknown" {
		t.Errorf("tpl-new age %q", c)
	}
	if c := cell(t, fresh, "Next rebuild"); c != "none scheduled" {
		t.Errorf("tpl-new next rebuild %q", c)
	}
}

func TestStatusPageSections(t *testing.T) {
	st := pageStatus()
	st.Desired.Rejected = &Rejection{SHA256: "ab", Error: "templates[0].vmid: 12 is outside vmids.templates", At: pageNow.Add(-time.Minute)}
	st.Git = &GitStatus{URL: "https://git.example.com/infra/templates.git", Ref: "main", Revision: "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
		Signer: "ops@example.com", LastFetch: pageNow.Add(-time.Minute), LastError: "dial tcp: connection refused", ConsecutiveFailures: 2}
	page := renderPage(t, st)
	for _, want := range []string{
		`<dt>Newest checkpoint</dt>` + "\n" + `<dd>42 entries, root <code title="q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=">q83vEjRWeJq8…</code>, <time datetime="2026-12-05T10:20:00Z">`,
		`<dd><span class="badge ok">intact</span> <time datetime="2026-12-05T08:30:00Z">2026-12-05T08:30:00Z</time>, 41 entries, 0 finding(s)</dd>`,
		`<dt>Result</dt><dd><span class="badge bad">failure</span></dd>`, `<dt>Duration</dt><dd>95.5 s</dd>`,
		`<pre>tpl-bad: packer exited 1</pre>`,
		`<code title="3f1c2e44a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c">3f1c2e44a1b2…</code>`,
		`<span class="badge bad">rejected</span>`, "12 is outside vmids.templates",
		`<code>https://git.example.com/infra/templates.git</code> (main)`, "<code>7fd1a60b01f9</code>, signed by ops@example.com",
		`<span class="badge bad">failed</span> <time datetime="2026-12-05T10:29:00Z">`, "2 failure(s) in a row", "connection refused",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}

	empty := renderPage(t, Status{Version: StatusVersion, State: phaseWaiting, Now: pageNow, Templates: []TemplateStatus{},
		Desired: DesiredStatus{Path: "desired/templates.yaml"}})
	for _, want := range []string{`<span class="badge warn">waiting</span>`, "No desired state in force yet.", "No run yet.",
		"<dd>none yet</dd>", "<dd>not run yet</dd>", "<dd>none in force</dd>", "Not ready."} {
		if !strings.Contains(empty, want) {
			t.Errorf("page of a waiting daemon lacks %s", want)
		}
	}
	if strings.Contains(empty, "<table") {
		t.Error("a table without templates")
	}
}

// TestStatusPageNoSecret: a token planted in the daemon's settings (its
// environment, a webhook handler's secret, credentials and a token in the
// git remote's URL) appears in no form in the page or its headers.
func TestStatusPageNoSecret(t *testing.T) {
	const secret = "s3cr3t-T0ken-6f1d2c9a"
	t.Setenv("PROXMOX_TOKEN_SECRET", secret)
	t.Setenv("TEMPLATED_GIT_WEBHOOK_SECRET", secret)
	h := newHarness(t, func(o *Options) {
		o.Handlers = map[string]http.Handler{"POST /hooks/git": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Gitlab-Token") != secret {
				w.WriteHeader(http.StatusUnauthorized)
			}
		})}
		o.Git = func() *GitStatus {
			return &GitStatus{URL: "https://oauth2:" + secret + "@git.example.com/infra/templates.git?private_token=" + secret, Ref: "main"}
		}
	}, tplA)
	srv := httptest.NewServer(h.d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "git.example.com/infra/templates.git") {
		t.Fatalf("GET / = %d without the git remote:\n%s", resp.StatusCode, body)
	}
	var headers bytes.Buffer
	resp.Header.Write(&headers) //nolint:errcheck // a buffer
	for _, form := range redact.Forms(secret) {
		if bytes.Contains(body, []byte(form)) || strings.Contains(headers.String(), form) {
			t.Errorf("the page shows the secret (as %q)", form)
		}
	}
}

// TestStatusPageHTTP: GET and HEAD at exactly /, with the headers that
// keep it self-contained; other methods 405; other paths 404.
func TestStatusPageHTTP(t *testing.T) {
	h := newHarness(t, nil, tplA)
	srv := httptest.NewServer(h.d.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
		"Content-Length":         strconv.Itoa(len(body)),
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// The policy allows the page's own style by its hash, and nothing else.
	_, css, _ := strings.Cut(string(body), "<style>")
	css, _, _ = strings.Cut(css, "</style>")
	sum := sha256.Sum256([]byte(css))
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'", "img-src data:", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q allows too much", csp)
	}

	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(head) != 0 || resp.Header.Get("Content-Security-Policy") != csp {
		t.Errorf("HEAD / = %d with %d bytes", resp.StatusCode, len(head))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, srv.URL+"/", strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s / = %d, want 405", m, resp.StatusCode)
		}
	}
	for _, p := range []string{"/index.html", "/favicon.ico", "/x/"} {
		if code, _ := httpGet(t, srv.URL+p); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, code)
		}
	}
}

// TestStatusPageFollowsRuns: the page a running daemon serves says what
// /status says: a failed build with its error and build id, then its
// recovery.
func TestStatusPageFollowsRuns(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Checkpoint = func() *CheckpointStatus { return &CheckpointStatus{Size: 7, RootHash: "AAAAAAAAAAAAAAAA", At: pageNow} }
	}, tplA)
	build := func(res BuildStatus, id, msg string) func(context.Context, Request) (Outcome, error) {
		return func(_ context.Context, req Request) (Outcome, error) {
			req.Observed()
			out := keepAll(req)
			out.Templates[0].Action, out.Templates[0].Build, out.Templates[0].BuildID, out.Templates[0].Error = ActionRebuild, res, id, msg
			return out, nil
		}
	}
	h.rec.setFn(build(BuildFailure, "b-fail-1", "packer exited 1: storage 'local-lvm' is full"))
	h.start()
	srv := httptest.NewServer(h.d.Handler())
	defer srv.Close()
	waitFor(t, "the failed run", func() bool { return firstResult(h.d) == BuildFailure })
	_, page := httpGet(t, srv.URL+"/")
	c := cell(t, row(t, page, "tpl-a"), "Last result")
	if !strings.Contains(c, ">failed<") || !strings.Contains(c, "<code>b-fail-1</code>") || !strings.Contains(c, "local-lvm&#39; is full") {
		t.Fatalf("after a failed build: %s", c)
	}
	_, js := httpGet(t, srv.URL+"/status")
	var st Status
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatal(err)
	}
	if st.Templates[0].LastBuildID != "b-fail-1" || st.LedgerCheckpoint == nil || st.LedgerCheckpoint.Size != 7 {
		t.Fatalf("/status: %+v, checkpoint %+v", st.Templates[0], st.LedgerCheckpoint)
	}
	if !strings.Contains(page, "<dd>7 entries, root <code") {
		t.Error("the page lacks the checkpoint /status has")
	}

	h.rec.setFn(build(BuildSuccess, "b-ok-2", ""))
	h.change()
	waitFor(t, "the recovery", func() bool { return firstResult(h.d) == BuildSuccess })
	_, page = httpGet(t, srv.URL+"/")
	c = cell(t, row(t, page, "tpl-a"), "Last result")
	if !strings.Contains(c, `<span class="badge ok">ok</span>`) || !strings.Contains(c, "<code>b-ok-2</code>") || strings.Contains(c, "<pre>") {
		t.Fatalf("after the recovery: %s", c)
	}
}

// firstResult is the first template's last result ("" before the desired
// file is in force).
func firstResult(d *Daemon) BuildStatus {
	if st := d.Status(); len(st.Templates) > 0 {
		return BuildStatus(st.Templates[0].LastResult)
	}
	return ""
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 12 * time.Second: "12s", 4*time.Minute + 10*time.Second: "4m 10s", 2*time.Hour + 5*time.Minute: "2h 5m",
		(3*24 + 4) * time.Hour: "3d 4h", 400 * 24 * time.Hour: "400d 0h", -time.Hour: "0s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestSafeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://git.example.com/a.git":                 "https://git.example.com/a.git",
		"https://u:pw@git.example.com/a.git?t=x#frag":   "https://git.example.com/a.git?[query redacted]",
		"git@git.example.com:infra/templates.git":       "git@git.example.com:infra/templates.git",
		"ssh://git@git.example.com:2222/infra/t.git":    "ssh://git.example.com:2222/infra/t.git",
		"https://u:p%zz@git.example.com/bad-escape.git": "(a URL that does not parse)",
	} {
		if got := safeURL(in); got != want {
			t.Errorf("safeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatusPageContrast: every text colour of the page's palette, light
// and dark, has at least WCAG AA contrast (4.5:1) on the background it is
// drawn on, and the lines that separate rows 3:1.
func TestStatusPageContrast(t *testing.T) {
	_, dark, ok := strings.Cut(pageHTML, "@media (prefers-color-scheme: dark)")
	if !ok {
		t.Fatal("no dark palette")
	}
	light, _, _ := strings.Cut(pageHTML, "@media (prefers-color-scheme: dark)")
	pairs := []struct {
		fg, bg string
		min    float64
	}{
		{"fg", "bg", 4.5}, {"muted", "bg", 4.5}, {"link", "bg", 4.5}, {"fg", "head", 4.5}, {"line", "bg", 3},
		{"ok-fg", "ok-bg", 4.5}, {"bad-fg", "bad-bg", 4.5}, {"warn-fg", "warn-bg", 4.5}, {"info-fg", "info-bg", 4.5},
	}
	for name, css := range map[string]string{"light": light, "dark": dark} {
		palette := map[string]string{}
		for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-f]{6})`).FindAllStringSubmatch(css, -1) {
			if _, seen := palette[m[1]]; !seen {
				palette[m[1]] = m[2]
			}
		}
		for _, p := range pairs {
			fg, bg := palette[p.fg], palette[p.bg]
			if fg == "" || bg == "" {
				t.Fatalf("%s palette lacks --%s or --%s", name, p.fg, p.bg)
			}
			if r := contrast(fg, bg); r < p.min {
				t.Errorf("%s: --%s %s on --%s %s: contrast %.2f, want at least %.1f", name, p.fg, fg, p.bg, bg, r, p.min)
			}
		}
	}
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	lum := func(hex string) float64 {
		var c [3]float64
		for i := range c {
			v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
			s := float64(v) / 255
			if s <= 0.03928 {
				c[i] = s / 12.92
			} else {
				c[i] = math.Pow((s+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
	}
	la, lb := lum(a), lum(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}
