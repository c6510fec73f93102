package main

// The daemon's status page in a real browser: Debian's chromium, headless,
// driven by chromedp against `templated daemon` on the simulator with real
// Packer. Screenshots at desktop and phone width go where CI keeps
// artifacts.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"templated/internal/ledger"
	"templated/internal/pvesim"
)

// findBrowser is Debian's chromium (or another Chrome) on PATH. Without
// one the test is skipped, or fails under `make test`
// (TEMPLATED_REQUIRE_BROWSER=1): CI must run it.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TEMPLATED_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium on PATH (make deps installs Debian's chromium)")
	}
	t.Skip("no chromium on PATH (make deps installs it)")
	return ""
}

// browser is one headless tab and what it reported: console errors,
// uncaught exceptions, error log entries, failed or refused requests, and
// every URL it asked for.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
	requests []string
	out      lockedBuffer // chromium's own output, for failures
}

// newBrowser starts chromium headless with a throw-away profile, as root
// without its sandbox, and with everything that would talk to the network
// on its own turned off; host names resolve to nothing, so it reaches
// loopback addresses only.
func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	b := &browser{t: t}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-service-autorun", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("proxy-server", "direct://"),
		chromedp.CombinedOutput(&b.out),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 10*time.Minute) // a bound for a hung browser
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	b.ctx = ctx
	if err := chromedp.Listen(ctx, b.event); err != nil {
		t.Fatalf("start chromium: %v\n%s", err, b.out.String())
	}
	return b
}

// event runs in the tab's message loop: it only notes what it sees.
func (b *browser) event(ev any) {
	var problem, url string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			problem = "console." + string(ev.Type)
		}
	case *runtime.EventExceptionThrown:
		problem = "uncaught exception"
		if d := ev.ExceptionDetails; d != nil {
			problem += ": " + d.Text
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry != nil && ev.Entry.Level == cdplog.EntryLevelError {
			problem = "log error (" + string(ev.Entry.Source) + "): " + ev.Entry.Text + " " + ev.Entry.URL
		}
	case *network.EventLoadingFailed:
		problem = "request failed: " + string(ev.Type) + " " + ev.ErrorText + " " + string(ev.BlockedReason)
	case *network.EventResponseReceived:
		if r := ev.Response; r != nil && r.Status >= 400 {
			problem = "HTTP " + r.StatusText + " for " + r.URL
		}
	case *network.EventRequestWillBeSent:
		if ev.Request != nil {
			url = ev.Request.URL
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if problem != "" {
		b.problems = append(b.problems, problem)
	}
	if url != "" {
		b.requests = append(b.requests, url)
	}
}

// do runs actions or fails the test.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\n%s", what, err, b.out.String())
	}
}

// eval evaluates a JavaScript expression in the page (through DevTools,
// which works with the page's scripts disabled too).
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// pageRow is one template's row as the browser shows it.
type pageRow struct {
	ID    string            `json:"id"`
	Name  string            `json:"name"`
	Cells map[string]string `json:"cells"`
}

const rowsJS = `Array.from(document.querySelectorAll('tbody tr')).map(r => ({id: r.id,
	name: r.querySelector('th[scope=row]').innerText,
	cells: Object.fromEntries(Array.from(r.querySelectorAll('td')).map(c => [c.dataset.label, c.innerText]))}))`

// rows loads url and returns the template rows it shows: one.
func (b *browser) rows(url string) []pageRow {
	b.t.Helper()
	b.do("load the status page", chromedp.Navigate(url))
	rows := eval[[]pageRow](b, rowsJS)
	if len(rows) != 1 {
		b.t.Fatalf("the page shows %d templates, want 1: %+v", len(rows), rows)
	}
	return rows
}

// artifactsDir is where CI keeps artifacts: $TEMPLATED_ARTIFACTS_DIR, or
// output/artifacts/ci/status-page in the repository.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEMPLATED_ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(t), "output", "artifacts", "ci", "status-page")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot writes a full-page PNG of the current page.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// buildID is the build id of the newest build.finished entry with result.
func (w *daemonWorld) buildID(result string) string {
	id := ""
	for _, e := range w.entries() {
		if e.Kind == ledger.KindBuildFinished && e.Result == result {
			id = e.BuildID
		}
	}
	return id
}

// TestStatusPageE2E: the status page of a daemon on the simulator, in
// chromium: it loads and lists the template; a failed build shows up with
// its reason and build id (the ledger's), then the recovery; it has no
// script, refreshes itself, loads nothing but itself, logs no error, and
// on a phone it reflows without horizontal scrolling.
func TestStatusPageE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	exe := findBrowser(t)
	t.Parallel()
	w := newDaemonWorld(t, pvesim.Options{})
	// Packer's clone of the base VM fails until the fault goes.
	fault := w.fault(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", VMID: 9800, TaskExit: "clone failed: storage 'local-lvm' is full"})
	p := w.startDaemon("--interval", "1h", "--debounce", "100ms")
	p.waitFor(30*time.Second, "the first run", func() bool { return p.idleAfter(time.Time{}) })
	url := "http://" + p.addr + "/"
	b := newBrowser(t, exe)

	// It loads: a title, one h1, the four sections, a row per template.
	rows := b.rows(url)
	if title := eval[string](b, "document.title"); title != "templated: idle" {
		t.Errorf("title %q", title)
	}
	if h1 := eval[[]string](b, "Array.from(document.querySelectorAll('h1')).map(h => h.innerText)"); len(h1) != 1 || h1[0] != "templated idle" {
		t.Errorf("h1 %q", h1)
	}
	if h2 := eval[[]string](b, "Array.from(document.querySelectorAll('h2')).map(h => h.innerText)"); !slices.Equal(h2, []string{"Templates", "Last run", "Ledger", "Desired state"}) {
		t.Errorf("h2 %q", h2)
	}
	if rows[0].Name != daemonTemplate || !strings.HasPrefix(rows[0].Cells["VMID and node"], "9000 on pve1") ||
		rows[0].Cells["Release"] != "1.0.0" || !strings.Contains(rows[0].Cells["Last result"], "no build yet") {
		t.Errorf("rows before any build: %+v", rows)
	}
	if cp := eval[string](b, `document.querySelector('#ledger').parentElement.querySelector('dd').innerText`); !strings.Contains(cp, " entries, root ") {
		t.Errorf("ledger checkpoint %q", cp)
	}
	// Its style applies under its Content-Security-Policy (the badge's
	// background is the palette's).
	if bg := eval[string](b, `getComputedStyle(document.querySelector('h1 .badge')).backgroundColor`); bg != "rgb(227, 244, 232)" {
		t.Errorf("state badge background %q: the inline style did not apply", bg)
	}
	// No script, no control, and it refreshes itself.
	if n := eval[int](b, `document.scripts.length + document.querySelectorAll('form, button, input, select, textarea, [onclick], [onload]').length`); n != 0 {
		t.Errorf("%d scripts or controls", n)
	}
	if r := eval[string](b, `(document.querySelector('meta[http-equiv="refresh"]') || {}).content || ''`); r != "30" {
		t.Errorf("meta refresh %q", r)
	}

	// A failed build: the result, Packer's reason and the build id.
	before := time.Now()
	w.writeDesired("1.1.0", "")
	p.waitFor(3*time.Minute, "the failed build", func() bool {
		return w.count(ledger.KindBuildFinished, "failure") == 1 && p.idleAfter(before)
	})
	failedID := w.buildID("failure")
	rows = b.rows(url)
	last := rows[0].Cells["Last result"]
	if !strings.HasPrefix(last, "failed") || !strings.Contains(last, "build "+failedID) || !strings.Contains(last, "storage 'local-lvm' is full") {
		t.Errorf("after the failed build %s: last result %q", failedID, last)
	}
	// The failed rebuild left 1.0.0 at the VMID: the page says so, and
	// which release is wanted.
	if rel := rows[0].Cells["Release"]; !strings.HasPrefix(rel, "1.0.0") || !strings.Contains(rel, "desired 1.1.0") {
		t.Errorf("after the failed build: release %q, want 1.0.0 with 1.1.0 desired", rel)
	}
	if st := p.status(); len(st.Templates) != 1 || st.Templates[0].LastBuildID != failedID || st.LastRun == nil || st.LastRun.Result != "failure" {
		t.Errorf("/status after the failed build: %+v", st)
	}
	dir := artifactsDir(t)
	b.screenshot(filepath.Join(dir, "status-desktop.png"))

	// On a phone: cards with labelled cells, no horizontal scrolling.
	b.do("emulate a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait, chromedp.EmulateTouch),
		chromedp.Navigate(url))
	if fits := eval[bool](b, `innerWidth === 390 && document.documentElement.scrollWidth <= innerWidth`); !fits {
		t.Errorf("at 390px the page scrolls sideways: scrollWidth %d", eval[int](b, "document.documentElement.scrollWidth"))
	}
	if label := eval[string](b, `getComputedStyle(document.querySelector('td[data-label="Last result"]'), '::before').content`); label != `"Last result"` {
		t.Errorf("phone layout: cell label %q", label)
	}
	b.screenshot(filepath.Join(dir, "status-phone.png"))
	b.do("back to a desktop", chromedp.EmulateViewport(1280, 900))

	// The recovery.
	w.sim.Faults().Remove(fault)
	before = time.Now()
	w.writeDesired("1.1.0", "retry")
	p.waitFor(3*time.Minute, "the successful build", func() bool {
		return w.count(ledger.KindBuildFinished, "success") == 1 && p.idleAfter(before)
	})
	okID := w.buildID("success")
	rows = b.rows(url)
	last = rows[0].Cells["Last result"]
	if !strings.HasPrefix(last, "ok") || !strings.Contains(last, "build "+okID) || strings.Contains(last, "local-lvm") || rows[0].Cells["Release"] != "1.1.0" {
		t.Errorf("after the recovery (build %s): %+v", okID, rows[0])
	}

	// Without JavaScript the page says the same.
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable scripts: %v", err)
	}
	if noJS := b.rows(url); noJS[0].Cells["Last result"] != last {
		t.Errorf("without JavaScript: %+v", noJS)
	}

	b.mu.Lock()
	problems, requests := slices.Clone(b.problems), slices.Clone(b.requests)
	b.mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(problems, "\n"))
	}
	for _, r := range requests {
		if r != url && r != "data:," {
			t.Errorf("the page made a request for %s", r)
		}
	}
	if !slices.Contains(requests, url) {
		t.Errorf("requests seen: %q", requests)
	}
}
