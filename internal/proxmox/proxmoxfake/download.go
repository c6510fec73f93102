package proxmoxfake

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"templated/internal/proxmox"
)

// maxDownload bounds what the fake holds of one download in memory.
const maxDownload = 64 << 20

// contentDir is where PVE keeps a content type on a file storage.
var contentDir = map[string]string{"iso": "template/iso", "vztmpl": "template/cache", "import": "import"}

// pvePath is the file PVE writes volume content/file of storage to, as its
// messages name it (local is /var/lib/vz, other storages /mnt/pve/ID).
func pvePath(storage, content, file string) string {
	base := "/mnt/pve/" + storage
	if storage == "local" {
		base = "/var/lib/vz"
	}
	return base + "/" + contentDir[content] + "/" + file
}

// DownloadURL fetches d.URL (loopback addresses only: the fake sends no
// traffic elsewhere) and stores it as "<storage>:<content>/<filename>",
// as PVE's download-url task does: it verifies the checksum, refuses to
// replace an existing file without one (and keeps it when the checksum
// matches), and fails with PVE's exit statuses ("checksum mismatch: got
// … != expect …", "download failed: exit code 8" for an HTTP error)
// wrapped by proxmox.NewDownloadError. The returned log has wget's key
// lines. Import content needs a version of 8.3 or later (SetVersion).
func (c *Cluster) DownloadURL(ctx context.Context, node, storage string, d proxmox.Download) (proxmox.TaskLog, error) {
	what := fmt.Sprintf("download %s to %s", d.Filename, storage)
	hook := hookFor(c, func(f Funcs) func(context.Context, string, string, proxmox.Download) error { return f.DownloadURL },
		func(f func(context.Context, string, string, proxmox.Download) error) error {
			return f(ctx, node, storage, d)
		})
	volid := storage + ":" + d.Content + "/" + d.Filename
	dest := pvePath(storage, d.Content, d.Filename)
	safe := proxmox.SafeURL(d.URL)
	var tl proxmox.TaskLog
	var have []byte // the file already there
	var exists bool
	err := c.run(ctx, what, fmt.Sprintf("DownloadURL %s %s %s", node, storage, d.Filename), hook, func() error {
		if err := d.Validate(); err != nil {
			return err
		}
		if d.Content == "import" && !versionAtLeast(c.version, 8, 3) {
			return proxmox.NewError(proxmox.ErrInvalid, 400, "Proxmox answered 400: Parameter verification failed. (content: value 'import' does not have a value in the enumeration 'iso, vztmpl')")
		}
		c.tasks++
		tl.UPID = fmt.Sprintf("UPID:%s:%08X:00000000:00000000:download:%s:root@pam!fake:", node, c.tasks, d.Filename)
		have, exists = c.isos[volid]
		return nil
	})
	if err != nil {
		return tl, err
	}
	logf := func(format string, args ...any) { tl.Lines = append(tl.Lines, fmt.Sprintf(format, args...)) }
	logf("downloading %s to %s", safe, dest)
	exit := ""
	switch {
	case exists && d.Checksum == "":
		exit = fmt.Sprintf("refusing to override existing file '%s'", dest)
	case exists:
		if got := digest(d.Algorithm, have); strings.EqualFold(got, d.Checksum) {
			logf("calculating checksum of existing file...OK, got correct file already, no need to download")
		} else {
			logf("calculating checksum of existing file...")
			exit = fmt.Sprintf("checksum mismatch: got '%s' != expect '%s', aborting", got, d.Checksum)
		}
	default:
		var data []byte
		data, exit = fetch(ctx, d, dest, safe, logf)
		if exit == "" {
			exit = c.store(volid, dest, data)
		}
	}
	if exit != "" {
		logf("TASK ERROR: %s", exit)
		return tl, fmt.Errorf("%s: %w", what, proxmox.NewDownloadError(tl.UPID, exit, tl.Lines))
	}
	logf("TASK OK")
	return tl, nil
}

// store lists the downloaded file, unless another download stored it
// meanwhile (PVE's rename into place would find it).
func (c *Cluster) store(volid, dest string, data []byte) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.isos[volid]; ok {
		return fmt.Sprintf("refusing to override existing file '%s'", dest)
	}
	c.isos[volid] = data
	return ""
}

// fetch is the worker's wget and checksum part; exit is the task's exit
// status ("" for success).
func fetch(ctx context.Context, d proxmox.Download, dest, safe string, logf func(string, ...any)) (data []byte, exit string) {
	u, _ := url.Parse(d.URL) // Validate parsed it
	if err := loopback(u.Hostname()); err != nil {
		logf("%v", err)
		return nil, "download failed: " + err.Error()
	}
	logf("--%s--  %s", time.Now().Format("2006-01-02 15:04:05"), safe)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return nil, "download failed: " + safe + ": Invalid URL"
	}
	req.Header.Set("User-Agent", "Wget/1.21.3")
	hc := downloadClient()
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL
		}
		logf("%v", err)
		return nil, "download failed: " + err.Error()
	}
	defer resp.Body.Close()
	logf("HTTP request sent, awaiting response... %s", resp.Status)
	if resp.StatusCode >= 400 {
		logf("%s ERROR %d: %s.", time.Now().Format("2006-01-02 15:04:05"), resp.StatusCode, strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode))))
		return nil, "download failed: exit code 8"
	}
	logf("Saving to: '%s.tmp_dwnl.1'", dest)
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxDownload+1))
	switch {
	case err != nil:
		logf("Connection closed at byte %d. Giving up.", len(data))
		return nil, "download failed: exit code 4"
	case len(data) > maxDownload:
		return nil, fmt.Sprintf("proxmoxfake: downloads over %d bytes are not kept", maxDownload)
	}
	logf("'%s.tmp_dwnl.1' saved [%d]", dest, len(data))
	if d.Checksum != "" {
		got := digest(d.Algorithm, data)
		if !strings.EqualFold(got, d.Checksum) {
			logf("calculating checksum...")
			return nil, fmt.Sprintf("checksum mismatch: got '%s' != expect '%s'", got, d.Checksum)
		}
		logf("calculating checksum...OK, checksum verified")
	}
	logf("download of '%s' to '%s' finished", safe, dest)
	return data, ""
}

// downloadClient uses no proxy and connects to loopback addresses only.
func downloadClient() *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		return loopback(host)
	}}
	return &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 20 {
				return errors.New("20 redirections exceeded")
			}
			return loopback(req.URL.Hostname())
		}}
}

func loopback(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("proxmoxfake: refusing to connect to '%s': the fake only downloads from loopback addresses", host)
}

func digest(algorithm string, data []byte) string {
	var h hash.Hash = sha256.New()
	if algorithm == "sha512" {
		h = sha512.New()
	}
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// versionAtLeast compares a "major.minor[.patch]" version.
func versionAtLeast(v string, major, minor int) bool {
	var ma, mi int
	fmt.Sscanf(v, "%d.%d", &ma, &mi)
	return ma > major || (ma == major && mi >= minor)
}

// Volumes lists the volume ids of one content type on a storage (ISOs
// uploaded, files downloaded; the fake keeps no disk images there),
// sorted, as proxmox.Client.Volumes does.
func (c *Cluster) Volumes(ctx context.Context, node, storage, content string) ([]string, error) {
	out := []string{}
	err := c.run(ctx, fmt.Sprintf("list %s volumes on %s", content, storage), fmt.Sprintf("Volumes %s %s %s", node, storage, content), nil, func() error {
		prefix := storage + ":" + content + "/"
		for volid := range c.isos {
			if strings.HasPrefix(volid, prefix) {
				out = append(out, volid)
			}
		}
		slices.Sort(out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
