package proxmox_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/pvesim"
)

// serveFile serves data at /NAME on 127.0.0.1; block, when set, holds
// every answer until the test ends.
func serveFile(t *testing.T, name string, data []byte, block bool) string {
	done := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if block {
			select {
			case <-done:
			case <-r.Context().Done():
			}
			return
		}
		if r.URL.Path != "/"+name {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(done) })
	return ts.URL + "/" + name
}

func hexSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestDownloadURLRequest: the parameters PVE gets, and verify-certificates
// only when it is set.
func TestDownloadURLRequest(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{})
	img := proxmoxtest.QCOW2(1 << 30)
	u := serveFile(t, "a.qcow2", img, false)
	yes := true
	for _, d := range []proxmox.Download{
		{Content: "import", Filename: "a.qcow2", URL: u, Checksum: strings.ToUpper(hexSHA256(img)), Algorithm: "sha256"},
		{Content: "import", Filename: "b.qcow2", URL: u, VerifyCertificates: &yes},
	} {
		h.Client.DownloadURL(t.Context(), "pve", "local", d)
	}
	var forms []map[string]string
	for _, r := range h.Server.Requests() {
		if r.Method == "POST" && r.Path == "/nodes/pve/storage/local/download-url" {
			f := map[string]string{}
			for _, k := range r.FormKeys {
				f[k] = r.Form.Get(k)
			}
			forms = append(forms, f)
		}
	}
	if len(forms) != 2 {
		t.Fatalf("%d download-url requests, want 2", len(forms))
	}
	want := []string{"checksum", "checksum-algorithm", "content", "filename", "url"}
	if got := sortedKeys(forms[0]); !slices.Equal(got, want) || forms[0]["checksum"] != hexSHA256(img) ||
		forms[0]["checksum-algorithm"] != "sha256" || forms[0]["content"] != "import" || forms[0]["filename"] != "a.qcow2" {
		t.Errorf("first request %v", forms[0])
	}
	if got := sortedKeys(forms[1]); !slices.Equal(got, []string{"content", "filename", "url", "verify-certificates"}) || forms[1]["verify-certificates"] != "1" {
		t.Errorf("second request %v", forms[1])
	}
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestDownloadURLTimeout: the wait ends at Options.DownloadTimeout, with
// an error matching ErrTimeout that does not show the URL's secrets.
func TestDownloadURLTimeout(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{Client: proxmox.Options{DownloadTimeout: 300 * time.Millisecond}})
	u := serveFile(t, "slow.qcow2", nil, true)
	u = strings.Replace(u, "http://", "http://mirror:hunter2hunter2@", 1) + "?sig=0123456789abcdef"
	var tl proxmox.TaskLog
	err := returns(t, func() (err error) {
		tl, err = h.Client.DownloadURL(t.Context(), "pve", "local", proxmox.Download{Content: "import", Filename: "slow.qcow2", URL: u})
		return err
	})
	if !errors.Is(err, proxmox.ErrTimeout) || !strings.HasPrefix(tl.UPID, "UPID:pve:") || !strings.Contains(err.Error(), "download slow.qcow2 to local: ") {
		t.Fatalf("err = %v, log %+v", err, tl)
	}
	if s := err.Error(); strings.Contains(s, "hunter2hunter2") || strings.Contains(s, "0123456789abcdef") {
		t.Fatalf("secret in %q", s)
	}
}

// TestDownloadURLLogUnreadable: a download that succeeded is not an error
// because its log cannot be read; the warning names no secret.
func TestDownloadURLLogUnreadable(t *testing.T) {
	log, hook := logrustest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{Client: proxmox.Options{Log: log}})
	h.Server.Faults().MustAdd(pvesim.Fault{Method: "GET", Path: "/nodes/*/tasks/*/log", Status: 500, Message: "task log gone"})
	img := proxmoxtest.QCOW2(1 << 30)
	u := strings.Replace(serveFile(t, "a.qcow2", img, false), "http://", "http://mirror:hunter2hunter2@", 1)
	tl, err := h.Client.DownloadURL(t.Context(), "pve", "local", proxmox.Download{Content: "import", Filename: "a.qcow2", URL: u,
		Checksum: hexSHA256(img), Algorithm: "sha256"})
	if err != nil || tl.UPID == "" || len(tl.Lines) != 0 {
		t.Fatalf("DownloadURL = %+v, %v", tl, err)
	}
	warned := false
	for _, e := range hook.AllEntries() {
		s, _ := e.String()
		if strings.Contains(s, "hunter2hunter2") {
			t.Fatalf("secret logged: %s", s)
		}
		warned = warned || (e.Level == logrus.WarnLevel && strings.Contains(s, "task log gone"))
	}
	if !warned {
		t.Fatal("no warning about the log")
	}
}

// taskLogServer is a PVE answering download-url with a task that ends
// at once (exit), whose log has n lines, served by start and limit as
// PVE's read_task_log does.
func taskLogServer(t *testing.T, n int, exit string) (*proxmox.Client, *[]string) {
	const upid = "UPID:pve:00001234:00000000:00000000:download:x.iso:templated@pve!dl:"
	var queries []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		var data any
		switch {
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/download-url"):
			data = upid
		case strings.HasSuffix(r.URL.Path, "/status"):
			data = map[string]any{"upid": upid, "status": "stopped", "exitstatus": exit}
		case strings.HasSuffix(r.URL.Path, "/log"):
			queries = append(queries, r.URL.RawQuery)
			start, _ := strconv.Atoi(r.URL.Query().Get("start"))
			limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
			if err != nil {
				limit = 50
			}
			lines := []map[string]any{}
			for i := start; i < n && len(lines) < limit; i++ {
				lines = append(lines, map[string]any{"n": i + 1, "t": fmt.Sprintf("line %d", i+1)})
			}
			data = lines
		default:
			http.Error(w, "not here", http.StatusNotImplemented)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(ts.Close)
	c, err := proxmox.New(proxmox.Config{URL: ts.URL, TokenID: "templated@pve!dl", TokenSecret: "0b7c9c9e-1111-2222-3333-444455556666"},
		proxmox.Options{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c, &queries
}

// TestDownloadURLLogPages: the whole log comes back, page by page, up to
// 10000 lines (then Truncated), also for a failed task.
func TestDownloadURLLogPages(t *testing.T) {
	d := proxmox.Download{Content: "iso", Filename: "x.iso", URL: "http://127.0.0.1:1/x.iso"}
	for _, tc := range []struct {
		lines, want int
		truncated   bool
		queries     int
	}{{3, 3, false, 1}, {500, 500, false, 2}, {1234, 1234, false, 3}, {20000, 10000, true, 20}} {
		c, queries := taskLogServer(t, tc.lines, "OK")
		tl, err := c.DownloadURL(t.Context(), "pve", "local", d)
		if err != nil || len(tl.Lines) != tc.want || tl.Truncated != tc.truncated || tl.Lines[len(tl.Lines)-1] != fmt.Sprintf("line %d", tc.want) {
			t.Errorf("%d lines: read %d (truncated %v), %v", tc.lines, len(tl.Lines), tl.Truncated, err)
		}
		if len(*queries) != tc.queries || (*queries)[len(*queries)-1] != fmt.Sprintf("start=%d&limit=500", (tc.queries-1)*500) {
			t.Errorf("%d lines: queries %v", tc.lines, *queries)
		}
	}
	c, _ := taskLogServer(t, 700, "download failed: exit code 8")
	tl, err := c.DownloadURL(t.Context(), "pve", "local", d)
	if !errors.Is(err, proxmox.ErrTaskFailed) || len(tl.Lines) != 700 {
		t.Errorf("failed task: %d lines, %v", len(tl.Lines), err)
	}
}

func TestNewDownloadError(t *testing.T) {
	for _, tc := range []struct {
		exit string
		kind error
		msg  string
	}{
		{"checksum mismatch: got 'aa' != expect 'bb'", proxmox.ErrChecksum, "task U failed: checksum mismatch: got 'aa' != expect 'bb'"},
		{"refusing to override existing file '/var/lib/vz/template/iso/x.iso'", proxmox.ErrExists, ""},
		{"download failed: exit code 8", proxmox.ErrTaskFailed, "task U failed: download failed: exit code 8 (the server answered 403 Forbidden)"},
		{"download failed: exit code 4", proxmox.ErrTaskFailed, "task U failed: download failed: exit code 4"},
	} {
		lines := []string{"HTTP request sent, awaiting response... 302 Found", "HTTP request sent, awaiting response... 403 Forbidden"}
		err := proxmox.NewDownloadError("U", tc.exit, lines)
		if !errors.Is(err, tc.kind) || (tc.msg != "" && err.Error() != tc.msg) {
			t.Errorf("%q: %v (kind %v)", tc.exit, err, tc.kind)
		}
	}
}

func TestSafeURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://u:p@mirror.example/img/x.qcow2?sig=1#frag": "https://mirror.example/img/x.qcow2?[query redacted]",
		"https://mirror.example/x.iso":                      "https://mirror.example/x.iso",
		"http://[::1":                                       "[unparsable URL]",
	} {
		if got := proxmox.SafeURL(raw); got != want {
			t.Errorf("SafeURL(%q) = %q, want %q", raw, got, want)
		}
	}
}
