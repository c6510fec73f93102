package proxmox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

// reISOFile is what PVE accepts as the name of an uploaded ISO.
var reISOFile = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\.iso$`)

// UploadISO uploads size bytes from r as filename into storage's iso
// content (POST /nodes/{node}/storage/{storage}/upload, multipart,
// content=iso, streamed) and waits for the imgcopy task that moves it into
// place. The volume is then "<storage>:iso/<filename>".
//
// The request goes through the Client's own transport with the token in
// the Authorization header; it does not use proxmox-api-go's Upload, which
// waits for the task without looking at ctx. The whole call, task wait
// included, is bounded by Options.TaskTimeout.
func (c *Client) UploadISO(ctx context.Context, node, storage, filename string, r io.Reader, size int64) error {
	if !reISOFile.MatchString(filename) {
		return fmt.Errorf("upload %s: %w", filename, NewError(ErrInvalid, 0, "invalid ISO file name %q (letters, digits, '_', '-', '.', ending in .iso)", filename))
	}
	if size < 0 {
		return fmt.Errorf("upload %s: %w", filename, NewError(ErrInvalid, 0, "negative size %d", size))
	}
	path := fmt.Sprintf("/nodes/%s/storage/%s/upload", node, storage)
	op := "POST " + path
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	src := &exactReader{r: r, left: size}
	upid, err := do(ctx, c, c.opts.TaskTimeout, op, func(ctx context.Context) (string, error) {
		return c.postUpload(ctx, path, filename, src, size)
	})
	if rerr := src.failure(); rerr != nil {
		// The request broke because the ISO could not be read, not
		// because of the network.
		return fmt.Errorf("upload %s to %s: read the ISO: %w", filename, storage, rerr)
	}
	if err == nil && upid == "" {
		err = &Error{Kind: ErrUnexpected, Msg: op + ": Proxmox answered without a task id (UPID)"}
	}
	if err == nil {
		err = c.waitTask(ctx, node, upid)
	}
	if err != nil {
		return fmt.Errorf("upload %s to %s: %w", filename, storage, err)
	}
	return nil
}

// postUpload sends the multipart upload and returns the UPID PVE answered
// with. An error answer becomes a *pxapi.ApiError, as the library's own
// calls return it, so that classify words it.
func (c *Client) postUpload(ctx context.Context, path, filename string, r io.Reader, size int64) (string, error) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if err := mw.WriteField("content", "iso"); err != nil {
		return "", err
	}
	if _, err := mw.CreateFormFile("filename", filename); err != nil {
		return "", err
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	body := io.MultiReader(bytes.NewReader(head.Bytes()), r, strings.NewReader(tail))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL+path, body)
	if err != nil {
		return "", err
	}
	req.ContentLength = int64(head.Len()) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "PVEAPIToken="+c.cfg.TokenID+"="+c.cfg.TokenSecret.Reveal())
	resp, err := (&http.Client{Transport: c.tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	var env struct {
		Data    any            `json:"data"`
		Message string         `json:"message"`
		Errors  map[string]any `json:"errors"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return "", fmt.Errorf("answer %s is not JSON: %w", resp.Status, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", &pxapi.ApiError{Code: strconv.Itoa(resp.StatusCode), Message: strings.TrimRight(env.Message, "\n"), Errors: env.Errors}
	}
	upid, _ := env.Data.(string)
	return upid, nil
}

// exactReader reads exactly left bytes from r: fewer is an error (the
// Content-Length promised them), more are not sent. It remembers its
// failure, which the HTTP client reports only as a broken request.
type exactReader struct {
	r    io.Reader
	left int64
	mu   sync.Mutex
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		err = fmt.Errorf("%w: %d bytes short of the size", io.ErrUnexpectedEOF, e.left)
	case err == io.EOF:
		err = nil
	}
	if err != nil {
		e.mu.Lock()
		e.err = err
		e.mu.Unlock()
	}
	return n, err
}

func (e *exactReader) failure() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// DeleteVolume frees volume volid ("local:iso/x.iso") of storage on node
// (DELETE /nodes/{node}/storage/{storage}/content/{volid}) and waits for
// the imgdel task current PVE answers with (older releases answer
// synchronously).
func (c *Client) DeleteVolume(ctx context.Context, node, storage, volid string) error {
	if volid == "" || strings.ContainsAny(volid, "?#") {
		return fmt.Errorf("delete volume %q: %w", volid, NewError(ErrInvalid, 0, "invalid volume id %q", volid))
	}
	url := fmt.Sprintf("/nodes/%s/storage/%s/content/%s", node, storage, volid)
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	if err := c.runMaybeTask(ctx, node, "DELETE "+url, func(ctx context.Context) error { return c.api.Delete(ctx, url) }); err != nil {
		return fmt.Errorf("delete volume %s: %w", volid, err)
	}
	return nil
}
