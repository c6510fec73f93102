package pvesim

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
)

// download is one download-url task: its worker (run) follows pve-common's
// PVE::Tools::download_file_from_url, with wget's part done in Go
// (wget.go) against loopback addresses only. The bytes go to a temporary
// file in the simulator's data dir, never to memory; commit renames it
// into place and lists the volume.
type download struct {
	c    *Cluster
	req  *downloadRequest
	st   StorageSpec
	file ISOSpec // storage, content, normalized name
	dest string  // the file as PVE names it: /var/lib/vz/template/iso/x.iso

	// The worker sets result and have before it returns; commit reads
	// them after (under c.mu). discard may run while the worker does (a
	// stopped task), so mu guards the temporary paths.
	mu             sync.Mutex
	tmp, tmpDecomp string // local temporary files
	result         ISOSpec
	have           bool // the existing file has the checksum: keep it
}

// newHash is the digest of a checksum-algorithm (get_file_hash).
func newHash(algorithm string) hash.Hash {
	switch algorithm {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha224":
		return sha256.New224()
	case "sha256":
		return sha256.New()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// run is the task's worker. Its errors are the task's exit status, worded
// as PVE's.
func (d *download) run(ctx context.Context, pid uint32, logf func(string)) error {
	content := d.file.kind()
	if d.req.compression != "" && content != "iso" {
		return fmt.Errorf("decompression not supported for %s", content)
	}
	logf(fmt.Sprintf("downloading %s to %s", d.req.url, d.dest))
	if done, err := d.checkExisting(logf); done {
		return err
	}
	local, err := d.c.files.path(d.file)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp_dwnl.%d", local, pid)
	d.setTemp(tmp, "")
	err = d.transfer(ctx, tmp, fmt.Sprintf("%s.tmp_dwnl.%d", d.dest, pid), logf)
	if err != nil {
		d.discard()
	}
	return err
}

func (d *download) setTemp(tmp, decomp string) {
	d.mu.Lock()
	d.tmp, d.tmpDecomp = tmp, decomp
	d.mu.Unlock()
}

func (d *download) temps() (string, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tmp, d.tmpDecomp
}

// transfer fetches the URL into tmp, verifies the checksum, decompresses
// and checks the file's content; on success d.result is the new file.
func (d *download) transfer(ctx context.Context, tmp, shown string, logf func(string)) error {
	h := newHash(d.req.algorithm)
	if d.req.checksum == "" {
		h = nil
	}
	w := &wget{url: d.req.url, verify: d.req.verifyCertificates, now: d.c.now, logf: logf}
	if err := w.get(ctx, tmp, shown, h); err != nil {
		return fmt.Errorf("download failed: %w", err)
	}
	if h != nil {
		got := hex.EncodeToString(h.Sum(nil))
		if !strings.EqualFold(got, d.req.checksum) {
			logf("calculating checksum...")
			return fmt.Errorf("checksum mismatch: got '%s' != expect '%s'", got, d.req.checksum)
		}
		logf("calculating checksum...OK, checksum verified")
	}
	path := tmp
	if d.req.compression != "" {
		decomp := strings.Replace(tmp, ".tmp_dwnl.", ".tmp_dcom.", 1)
		shownDecomp := strings.Replace(shown, ".tmp_dwnl.", ".tmp_dcom.", 1)
		d.setTemp(tmp, decomp)
		logf(fmt.Sprintf("decompressing %s to %s", shown, shownDecomp))
		if err := decompress(ctx, d.req.compression, tmp, decomp, shown); err != nil {
			return err
		}
		_ = os.Remove(tmp)
		path, shown = decomp, shownDecomp
	}
	info, err := checkImage(d.file, path, shown)
	if err != nil {
		return fmt.Errorf("failed to verify file: %w", err)
	}
	d.result = d.file
	d.result.Size, d.result.VirtualSize = info.size, info.virtualSize
	logf(fmt.Sprintf("download of '%s' to '%s' finished", d.req.url, d.dest))
	return nil
}

// checkExisting is download_file_from_url's handling of an existing
// target: without a checksum it refuses, with one it compares the file's
// digest (of its bytes, when the simulator has them; of nothing else).
func (d *download) checkExisting(logf func(string)) (bool, error) {
	d.c.mu.RLock()
	_, exists := d.c.isos[d.file.volid()]
	d.c.mu.RUnlock()
	if !exists {
		return false, nil
	}
	if d.req.checksum == "" {
		return true, fmt.Errorf("refusing to override existing file '%s'", d.dest)
	}
	h := newHash(d.req.algorithm)
	if p, ok := d.c.files.existing(d.file); ok {
		if err := hashFile(h, p); err != nil {
			return true, err
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	if strings.EqualFold(got, d.req.checksum) {
		logf("calculating checksum of existing file...OK, got correct file already, no need to download")
		d.have = true
		return true, nil
	}
	logf("calculating checksum of existing file...")
	return true, fmt.Errorf("checksum mismatch: got '%s' != expect '%s', aborting", got, d.req.checksum)
}

func hashFile(h hash.Hash, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("unable to open '%s': %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("unable to read '%s': %w", path, err)
	}
	return nil
}

// commit runs when the task ends well (c.mu held): the file takes its
// place and the volume is listed with its size and ctime.
func (d *download) commit() error {
	if d.have {
		return nil
	}
	src, decomp := d.temps()
	if decomp != "" {
		src = decomp
	}
	local, err := d.c.files.path(d.file)
	if err == nil {
		err = os.Rename(src, local)
	}
	if err != nil {
		d.discard()
		return fmt.Errorf("unable to rename temporary file: %v", err)
	}
	d.setTemp("", "")
	d.result.Ctime = d.c.now().Unix()
	d.c.isos[d.result.volid()] = d.result
	return nil
}

// discard removes what the worker left behind.
func (d *download) discard() {
	tmp, decomp := d.temps()
	for _, p := range []string{tmp, decomp} {
		if p != "" {
			_ = os.Remove(p)
		}
	}
}
