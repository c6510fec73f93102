package packer

import "bytes"

// ring keeps the last len(buf) bytes written to it. It is not safe for
// concurrent use; the build's line handler serializes access.
type ring struct {
	buf  []byte
	next int  // where the next byte goes
	full bool // buf has wrapped at least once
}

func newRing(size int) *ring { return &ring{buf: make([]byte, size)} }

// Write never fails and never grows the buffer.
func (r *ring) Write(p []byte) (int, error) {
	n := len(p)
	if len(r.buf) == 0 {
		return n, nil
	}
	if len(p) >= len(r.buf) {
		copy(r.buf, p[len(p)-len(r.buf):])
		r.next, r.full = 0, true
		return n, nil
	}
	c := copy(r.buf[r.next:], p)
	if c < len(p) {
		copy(r.buf, p[c:])
		r.full = true
	}
	r.next = (r.next + len(p)) % len(r.buf)
	if r.next == 0 && len(p) > 0 {
		r.full = true
	}
	return n, nil
}

// Bytes returns the kept bytes in order. Once bytes have been dropped, the
// result starts after the first newline so that it begins with a whole line.
func (r *ring) Bytes() []byte {
	if !r.full {
		return bytes.Clone(r.buf[:r.next])
	}
	out := make([]byte, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	out = append(out, r.buf[:r.next]...)
	if i := bytes.IndexByte(out, '\n'); i >= 0 && i < len(out)-1 {
		out = out[i+1:]
	}
	return out
}
