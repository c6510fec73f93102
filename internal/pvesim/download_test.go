package pvesim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// imageServer is a loopback HTTP server: /f/NAME serves files[NAME] with
// its length, /cut/NAME declares the whole length but sends half and
// hangs up, /redirect/X redirects to X, anything else is 404.
func imageServer(t testing.TB, files map[string][]byte) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch b, ok := files[rest]; {
		case kind == "redirect":
			http.Redirect(w, r, rest, http.StatusFound)
		case kind == "f" && ok:
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			_, _ = w.Write(b)
		case kind == "cut" && ok:
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			_, _ = w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// importSeed is the default seed with import content on local, at a PVE
// version.
func importSeed(version string) *Seed {
	seed := DefaultSeed()
	seed.Version = version
	seed.Storages[0].Content = append(seed.Storages[0].Content, "import")
	return seed
}

// downloadTask posts download-url and waits for its task; it returns the exit
// status and the task.
func downloadTask(t testing.TB, srv *Server, hc *http.Client, params url.Values) (string, Task) {
	t.Helper()
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/storage/local/download-url", params).(string)
	exit, _ := waitTask(t, srv, hc, upid)
	task, _ := srv.Cluster().Task(upid)
	return exit, task
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// qcow2Image is a QCOW2 header claiming virtual size vsize, padded.
func qcow2Image(vsize int64, pad int) []byte {
	b := make([]byte, 512+pad)
	copy(b, qcow2Magic)
	binary.BigEndian.PutUint32(b[4:], 3)
	binary.BigEndian.PutUint64(b[24:], uint64(vsize))
	return b
}

func findVol(srv *Server, volid string) (Volume, bool) {
	for _, v := range srv.Cluster().Volumes("pve1", "local") {
		if v.Volid == volid {
			return v, true
		}
	}
	return Volume{}, false
}

// dataFiles lists the files under the simulator's data dir.
func dataFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	})
	return out
}

func hasLine(log []string, line string) bool { return slices.Contains(log, line) }

// TestDownloadURLChecksums: a download with a right sha256 or sha512 ends
// OK with PVE's log lines; the volume is listed with the real size and a
// ctime, and its bytes are the server's.
func TestDownloadURLChecksums(t *testing.T) {
	data := randomBytes(t, 3<<20+123)
	ts := imageServer(t, map[string][]byte{"cloud.img": data})
	dataDir := t.TempDir()
	srv := startSim(t, Options{Seed: importSeed("8.4.1"), DataDir: dataDir})
	hc := httpClient(t, srv)
	s256, s512 := sha256.Sum256(data), sha512.Sum512(data)
	for _, tc := range []struct {
		algo, sum, content, file, volid, dest, format string
	}{
		{"sha256", hex.EncodeToString(s256[:]), "iso", "noble.img", "local:iso/noble.img", "/var/lib/vz/template/iso/noble.img", "iso"},
		{"sha512", strings.ToUpper(hex.EncodeToString(s512[:])), "import", "noble.raw", "local:import/noble.raw", "/var/lib/vz/import/noble.raw", "raw"},
	} {
		u := ts.URL + "/f/cloud.img"
		exit, task := downloadTask(t, srv, hc, url.Values{"content": {tc.content}, "filename": {tc.file}, "url": {u},
			"checksum": {tc.sum}, "checksum-algorithm": {tc.algo}})
		if exit != "OK" || task.Type != "download" || task.ID != tc.file {
			t.Fatalf("%s: task %s %q, exit %q\n%s", tc.algo, task.Type, task.ID, exit, strings.Join(task.Log, "\n"))
		}
		pid, _ := strconv.ParseUint(strings.Split(task.UPID, ":")[2], 16, 32)
		for _, line := range []string{
			"downloading " + u + " to " + tc.dest,
			"HTTP request sent, awaiting response... 200 OK",
			"Length: 3145851 (3.0M) [application/octet-stream]",
			fmt.Sprintf("Saving to: '%s.tmp_dwnl.%d'", tc.dest, pid),
			"calculating checksum...OK, checksum verified",
			"download of '" + u + "' to '" + tc.dest + "' finished",
			"TASK OK",
		} {
			if !hasLine(task.Log, line) {
				t.Errorf("%s: no log line %q in\n%s", tc.algo, line, strings.Join(task.Log, "\n"))
			}
		}
		v, ok := findVol(srv, tc.volid)
		if !ok || v.Size != int64(len(data)) || v.Ctime == 0 || v.Content != tc.content || v.Format != tc.format {
			t.Errorf("%s: volume %+v (listed %v)", tc.algo, v, ok)
		}
		p, ok := srv.Cluster().DataPath(tc.volid)
		if got, err := os.ReadFile(p); !ok || err != nil || string(got) != string(data) {
			t.Errorf("%s: data file %q %v: %d bytes, err %v", tc.algo, p, ok, len(got), err)
		}
	}
	listed := mustOK(t, srv, hc, "GET", "/nodes/pve1/storage/local/content", url.Values{"content": {"import"}}).([]any)
	if len(listed) != 1 || listed[0].(map[string]any)["volid"] != "local:import/noble.raw" {
		t.Errorf("import content %v", listed)
	}
	if files := dataFiles(t, dataDir); len(files) != 2 {
		t.Errorf("data dir holds %v, want the two files", files)
	}
}

// TestDownloadURLFailures: a wrong checksum, a 404, a body cut halfway
// and a non-loopback host fail the task with PVE's messages (the host
// with the simulator's own) and leave no volume and no file behind.
func TestDownloadURLFailures(t *testing.T) {
	data := randomBytes(t, 1<<20)
	ts := imageServer(t, map[string][]byte{"x.iso": data})
	dataDir := t.TempDir()
	srv := startSim(t, Options{DataDir: dataDir})
	hc := httpClient(t, srv)
	sum := sha256.Sum256(data)
	wrong := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, url, checksum, exit, line string
	}{
		{"checksum", ts.URL + "/f/x.iso", wrong,
			fmt.Sprintf("checksum mismatch: got '%s' != expect '%s'", hex.EncodeToString(sum[:]), wrong), "calculating checksum..."},
		{"404", ts.URL + "/f/missing.iso", "", "download failed: exit code 8", "HTTP request sent, awaiting response... 404 Not Found"},
		{"cut", ts.URL + "/cut/x.iso", "", "download failed: exit code 4", ""},
		{"refused", "http://127.0.0.1:1/x.iso", "", "download failed: Connecting to 127.0.0.1:1... failed: Connection refused.", ""},
		{"remote", "https://example.com/x.iso", "", "download failed: " + errNotLoopback{"example.com"}.Error(), ""},
		{"redirect", ts.URL + "/redirect/http://192.0.2.1/x.iso", "", "download failed: " + errNotLoopback{"192.0.2.1"}.Error(),
			"Location: http://192.0.2.1/x.iso [following]"},
	} {
		params := url.Values{"content": {"iso"}, "filename": {"x.iso"}, "url": {tc.url}}
		if tc.checksum != "" {
			params.Set("checksum", tc.checksum)
			params.Set("checksum-algorithm", "sha256")
		}
		exit, task := downloadTask(t, srv, hc, params)
		if exit != tc.exit || task.Log[len(task.Log)-1] != "TASK ERROR: "+tc.exit {
			t.Errorf("%s: exit %q, want %q\n%s", tc.name, exit, tc.exit, strings.Join(task.Log, "\n"))
		}
		if tc.line != "" && !hasLine(task.Log, tc.line) {
			t.Errorf("%s: no log line %q in\n%s", tc.name, tc.line, strings.Join(task.Log, "\n"))
		}
		if tc.name == "cut" && !strings.HasSuffix(task.Log[len(task.Log)-2], fmt.Sprintf("Connection closed at byte %d. Giving up.", len(data)/2)) {
			t.Errorf("cut: log\n%s", strings.Join(task.Log, "\n"))
		}
		if _, ok := findVol(srv, "local:iso/x.iso"); ok {
			t.Errorf("%s: volume listed", tc.name)
		}
		if files := dataFiles(t, dataDir); len(files) != 0 {
			t.Errorf("%s: files left %v", tc.name, files)
		}
	}
}

// TestDownloadURLExisting: PVE refuses to override a file without a
// checksum, keeps it when the checksum matches and aborts when not.
func TestDownloadURLExisting(t *testing.T) {
	data := randomBytes(t, 64<<10)
	ts := imageServer(t, map[string][]byte{"x.iso": data})
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	params := url.Values{"content": {"iso"}, "filename": {"x.iso"}, "url": {ts.URL + "/f/x.iso"}}
	if exit, _ := downloadTask(t, srv, hc, params); exit != "OK" {
		t.Fatalf("first download: %q", exit)
	}
	first, _ := findVol(srv, "local:iso/x.iso")
	if exit, _ := downloadTask(t, srv, hc, params); exit != "refusing to override existing file '/var/lib/vz/template/iso/x.iso'" {
		t.Errorf("again: %q", exit)
	}
	sum := sha256.Sum256(data)
	params.Set("checksum-algorithm", "sha256")
	params.Set("checksum", hex.EncodeToString(sum[:]))
	exit, task := downloadTask(t, srv, hc, params)
	if exit != "OK" || !hasLine(task.Log, "calculating checksum of existing file...OK, got correct file already, no need to download") {
		t.Errorf("same checksum: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	params.Set("checksum", strings.Repeat("0", 64))
	want := fmt.Sprintf("checksum mismatch: got '%s' != expect '%s', aborting", hex.EncodeToString(sum[:]), strings.Repeat("0", 64))
	if exit, _ := downloadTask(t, srv, hc, params); exit != want {
		t.Errorf("other checksum: %q", exit)
	}
	if v, _ := findVol(srv, "local:iso/x.iso"); v != first {
		t.Errorf("volume changed: %+v, was %+v", v, first)
	}
}
