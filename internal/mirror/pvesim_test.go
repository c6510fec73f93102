package mirror

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"templated/internal/pvesim"
)

// simClient calls the simulator's API with its token.
type simClient struct {
	t   *testing.T
	srv *pvesim.Server
	hc  *http.Client
}

func (c simClient) do(method, p string, params url.Values) any {
	c.t.Helper()
	u, body := c.srv.URL()+p, io.Reader(nil)
	if method == http.MethodPost {
		body = strings.NewReader(params.Encode())
	} else if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", c.srv.AuthHeader())
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, p, err)
	}
	defer resp.Body.Close()
	var out struct{ Data any }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: %s, %v", method, p, resp.Status, err)
	}
	return out.Data
}

// download asks for download-url as templated does and waits for the
// task; it returns the exit status and the task's log.
func (c simClient) download(params url.Values) (string, []string) {
	c.t.Helper()
	upid := c.do(http.MethodPost, "/nodes/pve1/storage/local/download-url", params).(string)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		st := c.do(http.MethodGet, "/nodes/pve1/tasks/"+upid+"/status", nil).(map[string]any)
		if st["status"] == "stopped" {
			task, _ := c.srv.Cluster().Task(upid)
			return st["exitstatus"].(string), task.Log
		}
	}
	c.t.Fatalf("task %s still running", upid)
	return "", nil
}

// TestSimulatorDownloadsFromMirror: the simulator's download-url (its
// loopback-only wget, checksum check and qemu-img check) takes the noble
// image from the mirror with the checksum the mirror's SHA256SUMS gives,
// and sees the catalog's virtual size; a cut or corrupt download fails as
// on PVE.
func TestSimulatorDownloadsFromMirror(t *testing.T) {
	m := startMirror(t, Options{})
	seed := pvesim.DefaultSeed()
	seed.Version = "8.4.1"
	seed.Storages[0].Content = append(seed.Storages[0].Content, "import")
	srv, err := pvesim.Start(pvesim.Options{Seed: seed, NoTLS: true, TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := simClient{t: t, srv: srv, hc: &http.Client{Timeout: 30 * time.Second}}

	ms, err := ParseMirrors(m.Mirrors())
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := listing(t, m, nobleSums)
	sum := entryFor(t, entries, "noble-server-cloudimg-amd64.img").Checksum.Hex
	file := fmt.Sprintf("noble-server-cloudimg-amd64-%s.qcow2", sum[:12])
	params := url.Values{"content": {"import"}, "filename": {file}, "url": {Rewrite(ms, nobleImg)},
		"checksum": {sum}, "checksum-algorithm": {"sha256"}}

	for _, tc := range []struct {
		fault Fault
		exit  string
	}{
		{FaultCut, "download failed: exit code 4"},
		{FaultCorrupt, "checksum mismatch: got '"},
		{FaultNotFound, "download failed: exit code 8"},
		{FaultNone, "OK"},
	} {
		m.SetFault(nobleImg, tc.fault)
		exit, log := c.download(params)
		if !strings.HasPrefix(exit, tc.exit) {
			t.Errorf("%s: exit %q, want %q\n%s", tc.fault, exit, tc.exit, strings.Join(log, "\n"))
		}
	}
	info := c.do(http.MethodGet, "/nodes/pve1/storage/local/content/local:import/"+file, nil).(map[string]any)
	if info["format"] != "qcow2" || info["size"] != float64(3758096384) || info["used"] != float64(262144) {
		t.Errorf("volume info %v", info)
	}
	if n := m.Requests(nobleImg); n != 4 {
		t.Errorf("mirror served %d GETs, want 4", n)
	}
}
