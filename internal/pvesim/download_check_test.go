package pvesim

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestDownloadURLParameters: download-url's schema and Status.pm's checks
// answer as PVE of the seed's version does, before any task starts.
func TestDownloadURLParameters(t *testing.T) {
	ok := url.Values{"content": {"iso"}, "filename": {"x.iso"}, "url": {"http://127.0.0.1:1/x.iso"}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range ok {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	for _, tc := range []struct {
		version, storage string
		params           url.Values
		status           int
		msg              string
		errs             map[string]string
	}{
		{"8.2.2", "local", with("content", "import", "filename", "x.ova"), 400, "Parameter verification failed.",
			map[string]string{"content": "value 'import' does not have a value in the enumeration 'iso, vztmpl'"}},
		{"8.3.0", "local", with("content", "import", "filename", "x.qcow2"), 400, "Parameter verification failed.",
			map[string]string{"filename": "invalid filename or wrong extension"}},
		{"8.3.0", "local", with("content", "import", "filename", "x.ova"), 200, "OK", nil},
		{"8.4.1", "local", with("content", "import", "filename", "x.qcow2"), 200, "OK", nil},
		{"8.4.1", "local", with("content", "import", "filename", "noble.img"), 400, "Parameter verification failed.",
			map[string]string{"filename": "invalid filename or wrong extension"}},
		{"9.0.10", "local", with("filename", "x.qcow2"), 400, "Parameter verification failed.",
			map[string]string{"filename": "wrong file extension"}},
		// The content type is checked before the file name.
		{"9.0.10", "local", with("content", "vztmpl", "filename", "debian.tar.zip"), 500,
			"storage 'local' is not configured for content-type 'vztmpl'", nil},
		{"8.4.1", "local", with("checksum", "abc", "url", "ftp://127.0.0.1/x.iso", "foo", "1"), 400, "Parameter verification failed.",
			map[string]string{"checksum-algorithm": "missing property required by 'checksum'", "url": "value does not match the regex pattern",
				"foo": "property is not defined in schema and the schema does not allow additional properties"}},
		{"8.4.1", "local", with("checksum", "abc", "checksum-algorithm", "sha3", "compression", "xz", "verify-certificates", "maybe", "filename", ""), 400,
			"Parameter verification failed.", map[string]string{
				"checksum-algorithm":  "value 'sha3' does not have a value in the enumeration 'md5, sha1, sha224, sha256, sha384, sha512'",
				"compression":         "value 'xz' does not have a value in the enumeration 'gz, lzo, zst, bz2'",
				"verify-certificates": "type check ('boolean') failed - got 'maybe'",
				"filename":            "property is missing and it is not optional"}},
		{"8.4.1", "local-lvm", ok, 500, "can't upload to storage type 'lvmthin', not a file based storage!", nil},
		{"8.4.1", "nope", ok, 500, "storage 'nope' does not exist", nil},
	} {
		seed := importSeed(tc.version)
		seed.Storages[0].Content = []string{"iso", "import"}
		srv := startSim(t, Options{Seed: seed})
		hc := httpClient(t, srv)
		r := call(t, srv, hc, "POST", "/nodes/pve1/storage/"+tc.storage+"/download-url", tc.params)
		if r.Status != tc.status || r.Reason != tc.msg {
			t.Errorf("%s %v: %d %q, want %d %q", tc.version, tc.params, r.Status, r.Reason, tc.status, tc.msg)
			continue
		}
		got := map[string]string{}
		if e, ok := r.JSON["errors"].(map[string]any); ok {
			for k, v := range e {
				got[k] = v.(string)
			}
		}
		if tc.errs != nil && !reflect.DeepEqual(got, tc.errs) {
			t.Errorf("%s %v: errors %v, want %v", tc.version, tc.params, got, tc.errs)
		}
		if n := len(srv.Cluster().Tasks()); n != 0 && tc.status != 200 {
			t.Errorf("%s %v: %d tasks started", tc.version, tc.params, n)
		}
	}
}

// TestDownloadURLNormalizesFilename: the file name is normalized and is
// the task's id.
func TestDownloadURLNormalizesFilename(t *testing.T) {
	ts := imageServer(t, map[string][]byte{"a.iso": []byte("iso")})
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	exit, task := downloadTask(t, srv, hc, url.Values{"content": {"iso"}, "filename": {`..\x/my disk:1.ISO`}, "url": {ts.URL + "/f/a.iso"}})
	if exit != "OK" || task.ID != "my_disk_1.ISO" {
		t.Fatalf("task %q exit %q", task.ID, exit)
	}
	if _, ok := findVol(srv, "local:iso/my_disk_1.ISO"); !ok {
		t.Error("volume not listed")
	}
}

// downloadAccessSeed has, besides root's default token, tokens (with
// their user's privileges) for download-url's permission rule.
func downloadAccessSeed(version string) *Seed {
	seed := importSeed(version)
	off := false
	acc := &AccessSpec{Roles: []RoleSpec{
		{Name: "Tmpl", Privs: []string{"Datastore.AllocateTemplate"}},
		{Name: "Net", Privs: []string{"Sys.AccessNetwork"}},
		{Name: "SysMod", Privs: []string{"Sys.Audit", "Sys.Modify"}},
		{Name: "ModOnly", Privs: []string{"Sys.Modify"}},
	}, ACLs: []ACLSpec{
		{Path: "/storage/local", Roles: []string{"Tmpl"}, Users: []string{"store@pve", "net@pve", "modify@pve", "half@pve"}},
		{Path: "/nodes/pve1", Roles: []string{"Net"}, Users: []string{"net@pve", "none@pve"}},
		{Path: "/", Roles: []string{"SysMod"}, Users: []string{"modify@pve"}},
		{Path: "/", Roles: []string{"ModOnly"}, Users: []string{"half@pve"}},
	}}
	for _, u := range []string{"store", "net", "modify", "half", "none"} {
		acc.Users = append(acc.Users, UserSpec{ID: u + "@pve"})
		acc.Tokens = append(acc.Tokens, TokenSpec{ID: u + "@pve!t", Secret: "secret-" + u, Privsep: &off})
	}
	acc.Tokens = append(acc.Tokens, TokenSpec{ID: "root@pam!templated", Secret: "secret-root", Privsep: &off})
	seed.Access = acc
	return seed
}

// TestDownloadURLPermissions: Datastore.AllocateTemplate on the storage
// and Sys.Audit+Sys.Modify on / or Sys.AccessNetwork on the node
// (pve-storage 8.1.0+, PVE 8.2+ and 9), with PVE's 403 texts.
func TestDownloadURLPermissions(t *testing.T) {
	ts := imageServer(t, map[string][]byte{"a.iso": []byte("iso")})
	for _, version := range []string{"8.4.1", "9.0.10"} {
		srv := startSim(t, Options{Seed: downloadAccessSeed(version)})
		hc := httpClient(t, srv)
		for i, tc := range []struct{ user, msg string }{
			{"none", "Permission check failed (/storage/local, Datastore.AllocateTemplate)"},
			{"store", "Permission check failed"},
			{"half", "Permission check failed"},
			{"net", ""},
			{"modify", ""},
		} {
			params := url.Values{"content": {"iso"}, "filename": {fmt.Sprintf("x%d.iso", i)}, "url": {ts.URL + "/f/a.iso"}}
			r := callAuth(t, srv, hc, "POST", "/nodes/pve1/storage/local/download-url", params,
				"PVEAPIToken="+tc.user+"@pve!t=secret-"+tc.user)
			if tc.msg != "" {
				if r.Status != 403 || r.Reason != tc.msg || r.JSON["message"] != tc.msg+"\n" {
					t.Errorf("%s %s: %d %q, want 403 %q", version, tc.user, r.Status, r.Reason, tc.msg)
				}
				continue
			}
			if r.Status != 200 {
				t.Errorf("%s %s: %d %q", version, tc.user, r.Status, r.Reason)
				continue
			}
			if exit, _ := waitTask(t, srv, hc, r.data().(string)); exit != "OK" {
				t.Errorf("%s %s: task %q", version, tc.user, exit)
			}
		}
	}
}

func tarFile(t *testing.T, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 4}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte("data"))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDownloadURLChecksContent: images to import must be what their
// extension says (qemu-img's and tar's complaints), a qcow2 or vmdk gets
// its virtual size, and a compressed ISO is decompressed.
func TestDownloadURLChecksContent(t *testing.T) {
	vmdk := make([]byte, 2048)
	copy(vmdk, vmdkMagic)
	binary.LittleEndian.PutUint64(vmdk[12:], 204800) // sectors: 100 MiB
	backed := qcow2Image(1<<30, 0)
	binary.BigEndian.PutUint64(backed[8:], 512)
	iso := bytes.Repeat([]byte("CD001"), 1000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(iso)
	_ = zw.Close()
	ts := imageServer(t, map[string][]byte{"junk": randomBytes(t, 4096), "noble.qcow2": qcow2Image(2252<<20, 4096),
		"backed.qcow2": backed, "disk.vmdk": vmdk, "good.ova": tarFile(t, "vm.ovf", "disk1.vmdk"),
		"bad.ova": tarFile(t, "disk1.vmdk"), "x.iso.gz": gz.Bytes()})
	srv := startSim(t, Options{Seed: importSeed("9.0.10")})
	hc := httpClient(t, srv)
	for _, tc := range []struct {
		src, content, file, compression, exit string
		size, vsize                           int64
	}{
		{"junk", "import", "junk.qcow2", "", "failed to verify file: qemu-img: Could not open '/var/lib/vz/import/junk.qcow2.tmp_dwnl.%d': Image is not in qcow2 format", 0, 0},
		{"junk", "import", "junk.vmdk", "", "failed to verify file: qemu-img: Could not open '/var/lib/vz/import/junk.vmdk.tmp_dwnl.%d': invalid VMDK image descriptor", 0, 0},
		{"junk", "import", "junk.ova", "", "failed to verify file: command 'tar -t -f /var/lib/vz/import/junk.ova.tmp_dwnl.%d' failed: exit code 2", 0, 0},
		{"bad.ova", "import", "bad.ova", "", "failed to verify file: ova archive has no .ovf file inside", 0, 0},
		{"backed.qcow2", "import", "backed.qcow2", "", "failed to verify file: backing file not allowed for untrusted image '/var/lib/vz/import/backed.qcow2.tmp_dwnl.%d'!", 0, 0},
		{"backed.qcow2", "iso", "backed.img", "", "failed to verify file: backing file not allowed for untrusted image '/var/lib/vz/template/iso/backed.img.tmp_dwnl.%d'!", 0, 0},
		{"x.iso.gz", "import", "x.raw", "gz", "decompression not supported for import", 0, 0},
		{"noble.qcow2", "import", "noble.qcow2", "", "OK", 512 + 4096, 2252 << 20},
		{"disk.vmdk", "import", "disk.vmdk", "", "OK", 2048, 100 << 20},
		{"good.ova", "import", "good.ova", "", "OK", int64(len(tarFile(t, "vm.ovf", "disk1.vmdk"))), 0},
		{"x.iso.gz", "iso", "x.iso", "gz", "OK", int64(len(iso)), 0},
	} {
		params := url.Values{"content": {tc.content}, "filename": {tc.file}, "url": {ts.URL + "/f/" + tc.src}}
		if tc.compression != "" {
			params.Set("compression", tc.compression)
		}
		exit, task := downloadTask(t, srv, hc, params)
		want := tc.exit
		if strings.Contains(want, "%d") {
			pid, _ := strconv.ParseUint(strings.Split(task.UPID, ":")[2], 16, 32)
			want = fmt.Sprintf(want, pid)
		}
		if exit != want {
			t.Errorf("%s as %s: exit %q, want %q\n%s", tc.src, tc.file, exit, want, strings.Join(task.Log, "\n"))
			continue
		}
		volid := "local:" + tc.content + "/" + tc.file
		v, listed := findVol(srv, volid)
		if exit != "OK" {
			if listed {
				t.Errorf("%s: failed download listed", tc.file)
			}
			continue
		}
		if !listed || v.Size != tc.size {
			t.Errorf("%s: volume %+v, want size %d", tc.file, v, tc.size)
		}
		if tc.vsize > 0 {
			info := mustOK(t, srv, hc, "GET", "/nodes/pve1/storage/local/content/"+volid, nil).(map[string]any)
			if info["size"] != float64(tc.vsize) || info["used"] != float64(tc.size) || info["path"] != "/var/lib/vz/import/"+tc.file {
				t.Errorf("%s: info %v, want virtual size %d", tc.file, info, tc.vsize)
			}
		}
	}
}

// TestDownloadURLStopped: stopping a download under way ends the task
// "interrupted by signal" and leaves no file and no volume.
func TestDownloadURLStopped(t *testing.T) {
	started := make(chan struct{})
	ts := newHalfServer(t, started)
	dataDir := t.TempDir()
	srv := startSim(t, Options{DataDir: dataDir})
	hc := httpClient(t, srv)
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/storage/local/download-url",
		url.Values{"content": {"iso"}, "filename": {"slow.iso"}, "url": {ts.URL}}).(string)
	<-started
	mustOK(t, srv, hc, "DELETE", "/nodes/pve1/tasks/"+upid, nil)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "interrupted by signal" {
		t.Errorf("exit %q", exit)
	}
	if err := srv.Close(); err != nil { // waits for the worker
		t.Fatal(err)
	}
	if files := dataFiles(t, dataDir); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
	if _, ok := findVol(srv, "local:iso/slow.iso"); ok {
		t.Error("volume listed")
	}
}

// newHalfServer sends half of a 2 MiB body, signals started, then waits
// for the client to go away.
func newHalfServer(t *testing.T, started chan struct{}) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(2<<20))
		_, _ = w.Write(make([]byte, 1<<20))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	}))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}

// TestDownloadURLCertificates: certificates are verified unless
// verify-certificates is 0, and wget's complaint is the task's error.
func TestDownloadURLCertificates(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("iso")) }))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	ts.StartTLS()
	t.Cleanup(ts.Close)
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	params := url.Values{"content": {"iso"}, "filename": {"x.iso"}, "url": {ts.URL + "/x.iso"}}
	want := "download failed: ERROR: The certificate of '127.0.0.1' doesn't have a known issuer."
	if exit, task := downloadTask(t, srv, hc, params); exit != want || !hasLine(task.Log, "ERROR: The certificate of '127.0.0.1' is not trusted.") {
		t.Errorf("verified: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	params.Set("verify-certificates", "0")
	if exit, _ := downloadTask(t, srv, hc, params); exit != "OK" {
		t.Errorf("not verified: %q", exit)
	}
}
