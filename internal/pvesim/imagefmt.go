package pvesim

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// imageInfo is what qemu-img info would say of a file: its size on disk
// and its virtual (disk) size.
type imageInfo struct{ size, virtualSize int64 }

// Image headers: QCOW2 (magic, version, backing file offset, ..., size at
// byte 24, big-endian) and VMDK sparse extents ("KDMV", capacity in
// 512-byte sectors at byte 12, little-endian).
var (
	qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}
	vmdkMagic  = []byte("KDMV")
)

func readHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

// qcow2Header returns a QCOW2 image's virtual size and whether it names a
// backing file; ok is false for anything else.
func qcow2Header(hdr []byte) (size int64, backing, ok bool) {
	if len(hdr) < 32 || !bytes.Equal(hdr[:4], qcow2Magic) {
		return 0, false, false
	}
	return int64(binary.BigEndian.Uint64(hdr[24:32])), binary.BigEndian.Uint64(hdr[8:16]) != 0, true
}

// checkImage is the assert_file_validity download-url gives
// download_file_from_url (Status.pm): an ISO may be anything but an image
// with a backing file (assert_iso_content); an image to import must be
// of the format its extension says, without backing file
// (file_size_info with $untrusted); an OVA must be a tar holding an .ovf
// (assert_ova_contents). Messages are qemu-img's and tar's, naming the
// file as PVE would (shown).
func checkImage(f ISOSpec, path, shown string) (imageInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return imageInfo{}, fmt.Errorf("failed to stat '%s'", shown)
	}
	info := imageInfo{size: st.Size(), virtualSize: st.Size()}
	if f.kind() == "vztmpl" {
		return info, nil
	}
	format := f.format()
	if f.kind() == "import" && format == "ova" {
		return info, checkOVA(path, shown)
	}
	hdr, err := readHeader(path)
	if err != nil {
		return info, fmt.Errorf("qemu-img: Could not open '%s': %v", shown, err)
	}
	vsize, backing, isQcow2 := qcow2Header(hdr)
	switch {
	case f.kind() == "iso" || format == "raw":
		if isQcow2 && backing {
			return info, fmt.Errorf("backing file not allowed for untrusted image '%s'!", shown)
		}
	case format == "qcow2":
		if !isQcow2 {
			return info, fmt.Errorf("qemu-img: Could not open '%s': Image is not in qcow2 format", shown)
		}
		if backing {
			return info, fmt.Errorf("backing file not allowed for untrusted image '%s'!", shown)
		}
		info.virtualSize = vsize
	case format == "vmdk":
		if len(hdr) < 20 || !bytes.Equal(hdr[:4], vmdkMagic) {
			return info, fmt.Errorf("qemu-img: Could not open '%s': invalid VMDK image descriptor", shown)
		}
		info.virtualSize = int64(binary.LittleEndian.Uint64(hdr[12:20])) * 512
	}
	return info, nil
}

// checkOVA is assert_ova_contents: `tar -t -f FILE` must list an .ovf.
func checkOVA(path, shown string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f) // skips entries by seeking
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("ova archive has no .ovf file inside")
		}
		if err != nil {
			return fmt.Errorf("command 'tar -t -f %s' failed: exit code 2", shown)
		}
		if strings.HasSuffix(h.Name, ".ovf") {
			return nil
		}
	}
}

// decompress is download-url's compression (ISOs only): what
// decompressor_info's command writes. gz and bz2 are done; lzo and zst
// are not simulated (no such decompressor in Go's standard library).
func decompress(ctx context.Context, comp, src, dst, shown string) error {
	cmd := map[string]string{"gz": "zcat", "bz2": "bzcat -q", "lzo": "lzop -d -c", "zst": "zstd -q -d -c"}[comp]
	code := 2 // bzcat's for corrupt data
	if comp == "gz" {
		code = 1 // zcat's
	}
	failed := fmt.Errorf("command '%s %s' failed: exit code %d", cmd, shown, code)
	in, err := os.Open(src)
	if err != nil {
		return failed
	}
	defer in.Close()
	var r io.Reader
	switch comp {
	case "gz":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return failed
		}
		r = zr
	case "bz2":
		r = bzip2.NewReader(in)
	default:
		return fmt.Errorf("pvesim: decompressing '%s' is not simulated (gz and bz2 are)", comp)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("cant open temporary file %s for decompresson: %v", strings.Replace(shown, ".tmp_dwnl.", ".tmp_dcom.", 1), errnoText(err))
	}
	defer out.Close()
	if _, err := io.CopyBuffer(out, ctxReader{ctx, r}, make([]byte, 256<<10)); err != nil {
		if ctx.Err() != nil {
			return errors.New("got interrupted by signal")
		}
		return failed
	}
	return out.Close()
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
