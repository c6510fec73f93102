package pvesim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// apiError is an error answer: the message goes both into the status
// line's reason phrase (what Packer's old client reads) and into the JSON
// body's "message" (what proxmox-api-go reads).
type apiError struct {
	status int
	msg    string
	errors map[string]string
	empty  bool // no body at all (401, pveproxy's 59x)
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

// fail is a handler error with PVE's message (a die in the handler is 500).
func fail(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// paramError is PVE's 400 "Parameter verification failed." with errors.
func paramError(errs map[string]string) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: "Parameter verification failed.", errors: errs}
}

func notExist(node, typ string, vmid int) *apiError {
	return fail(500, "Configuration file '%s' does not exist", confPath(node, typ, vmid))
}

// writeData writes an encoded success envelope.
func writeData(w http.ResponseWriter, b []byte) {
	h := w.Header()
	pveHeaders(h)
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func pveHeaders(h http.Header) {
	now := time.Now().UTC().Format(http.TimeFormat)
	h.Set("Server", "pve-api-daemon/3.0")
	h.Set("Cache-Control", "max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", now)
}

// writeError writes e with a custom reason phrase. net/http cannot do that,
// so the connection is hijacked (HTTP/1.1, plain or TLS), the response is
// written by hand and the connection closed.
func writeError(w http.ResponseWriter, r *http.Request, e *apiError) {
	reason, _, _ := strings.Cut(e.msg, "\n")
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, reason)
	var body []byte
	if !e.empty && e.status != http.StatusUnauthorized && e.status < 595 {
		msg := e.msg
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		env := map[string]any{"data": nil, "message": msg}
		if len(e.errors) > 0 {
			env["errors"] = e.errors
		}
		body, _ = json.Marshal(env)
	}
	if r != nil && r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<30))
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		pveHeaders(w.Header())
		if body != nil {
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		}
		w.WriteHeader(e.status)
		_, _ = w.Write(body)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	writeRawResponse(buf.Writer, e.status, reason, body)
	_ = buf.Flush()
}

func writeRawResponse(bw *bufio.Writer, status int, reason string, body []byte) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, reason)
	h := http.Header{}
	pveHeaders(h)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if body != nil {
		h.Set("Content-Type", "application/json;charset=UTF-8")
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	h.Set("Connection", "close")
	_ = h.Write(bw)
	fmt.Fprint(bw, "\r\n")
	_, _ = bw.Write(body)
}

// dropConnection closes the client's connection without answering.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
