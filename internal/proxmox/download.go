package proxmox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"templated/internal/redact"

	"github.com/sirupsen/logrus"

	"templated/internal/state"
)

// ErrChecksum: a download-url task found that the file it fetched (or the
// file already on the storage) does not have the expected checksum. The
// error also unwraps to *state.TaskError.
var ErrChecksum = errors.New("download checksum mismatch")

// Download is one file for download-url to fetch onto a storage.
type Download struct {
	Content  string // "iso" or "import"
	Filename string // the volume's file name on the storage
	// URL is http(s); its user info and query never appear in logs or
	// errors (see SafeURL).
	URL string
	// Checksum is the file's hex digest under Algorithm ("sha256" or
	// "sha512"); both empty for no check (then PVE refuses to replace a
	// file that is already there).
	Checksum  string
	Algorithm string
	// VerifyCertificates nil leaves PVE's default (verify).
	VerifyCertificates *bool
}

// TaskLog is a PVE task's log (GET /nodes/{node}/tasks/{upid}/log).
type TaskLog struct {
	UPID  string
	Lines []string
	// Truncated is set when the log had more lines than were read
	// (maxTaskLogLines).
	Truncated bool
}

var (
	reDownloadFile = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	reISOName      = regexp.MustCompile(`(?i)\.(iso|img)$`)
	reImportName   = regexp.MustCompile(`\.(ova|qcow2|raw|vmdk)$`)
	reHex          = regexp.MustCompile(`^[0-9a-fA-F]+$`)
)

// digestLen is the hex length of each checksum algorithm templated uses.
var digestLen = map[string]int{"sha256": 64, "sha512": 128}

// Validate refuses what PVE's download-url would refuse (and file names
// PVE would silently rewrite), before anything is sent. Import content
// takes .qcow2, .raw and .vmdk files since PVE 8.4 (.ova since 8.3);
// older releases refuse them with a 400.
func (d Download) Validate() error {
	invalid := func(format string, args ...any) error { return NewError(ErrInvalid, 0, format, args...) }
	switch d.Content {
	case "iso":
		if !reISOName.MatchString(d.Filename) {
			return invalid("ISO file name %q must end in .iso or .img", d.Filename)
		}
	case "import":
		if !reImportName.MatchString(d.Filename) {
			return invalid("import file name %q must end in .qcow2, .raw, .vmdk or .ova", d.Filename)
		}
	default:
		return invalid("content %q: want iso or import", d.Content)
	}
	if len(d.Filename) > 255 || !reDownloadFile.MatchString(d.Filename) {
		return invalid("invalid file name %q (letters, digits, '_', '-', '.'; at most 255)", d.Filename)
	}
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("URL %s is not an http(s) URL", SafeURL(d.URL))
	}
	switch {
	case d.Checksum == "" && d.Algorithm == "":
	case digestLen[d.Algorithm] == 0:
		return invalid("checksum algorithm %q: want sha256 or sha512", d.Algorithm)
	case len(d.Checksum) != digestLen[d.Algorithm] || !reHex.MatchString(d.Checksum):
		return invalid("checksum is not %d hex digits (%s)", digestLen[d.Algorithm], d.Algorithm)
	}
	return nil
}

// SafeURL is raw without user info, fragment and query ("?[query
// redacted]" shows there was one): what logs and errors may show of a
// download URL.
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "[unparsable URL]"
	}
	return redact.URL(u)
}

// urlScrubber replaces raw, and its user info and query, in texts PVE
// wrote (wget quotes the URL in the task log and in its last words).
func urlScrubber(raw string) *strings.Replacer {
	pairs := []string{raw, SafeURL(raw)}
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			pairs = append(pairs, u.User.String()+"@", "")
			if pw, ok := u.User.Password(); ok && len(pw) >= 4 {
				pairs = append(pairs, pw, "[redacted]")
				if esc := url.QueryEscape(pw); esc != pw {
					pairs = append(pairs, esc, "[redacted]")
				}
			}
		}
		if u.RawQuery != "" {
			pairs = append(pairs, "?"+u.RawQuery, "?[query redacted]")
			if len(u.RawQuery) >= 8 {
				pairs = append(pairs, u.RawQuery, "[query redacted]")
			}
		}
	}
	return strings.NewReplacer(pairs...)
}

// NewDownloadError is the error of a download-url task that ended with
// exit status exit, given its log: ErrChecksum for a checksum mismatch,
// ErrExists when PVE refused to replace a file, else ErrTaskFailed. wget's
// "exit code 8" (an HTTP error status) is completed with the status the
// log shows. It unwraps to *state.TaskError. proxmoxfake uses it too.
func NewDownloadError(upid, exit string, lines []string) *Error {
	kind := ErrTaskFailed
	switch {
	case strings.HasPrefix(exit, "checksum mismatch"):
		kind = ErrChecksum
	case strings.HasPrefix(exit, "refusing to override existing file"):
		kind = ErrExists
	}
	msg := "task " + upid + " failed: " + exit
	if strings.HasSuffix(exit, "exit code 8") {
		if st := lastHTTPStatus(lines); st != "" {
			msg += " (the server answered " + st + ")"
		}
	}
	return &Error{Kind: kind, Err: &state.TaskError{UPID: upid, ExitStatus: exit}, Msg: msg}
}

// lastHTTPStatus is the status of wget's last "HTTP request sent" line
// ("404 Not Found").
func lastHTTPStatus(lines []string) string {
	const prefix = "HTTP request sent, awaiting response... "
	for i := len(lines) - 1; i >= 0; i-- {
		if st, ok := strings.CutPrefix(lines[i], prefix); ok {
			return st
		}
	}
	return ""
}

// DownloadURL has PVE fetch d.URL onto storage as volume
// "STORAGE:CONTENT/FILENAME" (POST /nodes/{node}/storage/{storage}/download-url,
// which verifies the checksum and the file's format in its task), waits
// for the task up to Options.DownloadTimeout, and returns the task's log
// (GET …/tasks/{upid}/log, every page) whether the task succeeded or
// not. A failed task gives its log and an error matching ErrChecksum,
// ErrExists (a file of that name is there and no checksum was given) or
// ErrTaskFailed, unwrapping to *state.TaskError. A log that cannot be read
// after a successful task is not an error: what was read is returned.
// The URL's user info and query are scrubbed from the log and errors.
//
// Requests: 1 + task polls + ceil(log lines / 500).
func (c *Client) DownloadURL(ctx context.Context, node, storage string, d Download) (TaskLog, error) {
	scrub := urlScrubber(d.URL)
	fail := func(err error) error {
		return fmt.Errorf("download %s to %s: %w", d.Filename, storage, scrubError(err, scrub))
	}
	if err := d.Validate(); err != nil {
		return TaskLog{}, fail(err)
	}
	params := map[string]any{"url": d.URL, "content": d.Content, "filename": d.Filename}
	if d.Checksum != "" {
		params["checksum"], params["checksum-algorithm"] = strings.ToLower(d.Checksum), d.Algorithm
	}
	if d.VerifyCertificates != nil {
		params["verify-certificates"] = 0
		if *d.VerifyCertificates {
			params["verify-certificates"] = 1
		}
	}
	path := fmt.Sprintf("/nodes/%s/storage/%s/download-url", url.PathEscape(node), url.PathEscape(storage))
	log := c.log.WithFields(logrus.Fields{"node": node, "storage": storage, "file": d.Filename, "content": d.Content, "url": SafeURL(d.URL)})
	log.Info("downloading onto the storage")
	upid, err := c.startTask(ctx, "POST "+path, func(ctx context.Context) error { return c.api.Post(ctx, params, path) })
	if err == nil && upid == "" {
		err = &Error{Kind: ErrUnexpected, Msg: "POST " + path + ": Proxmox answered without a task id (UPID)"}
	}
	if err != nil {
		return TaskLog{}, fail(err)
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.DownloadTimeout)
	werr := c.waitTask(wctx, node, upid)
	cancel()
	var te *state.TaskError
	if werr != nil && !errors.As(werr, &te) {
		return TaskLog{UPID: upid}, fail(werr) // not finished (deadline, canceled) or not watched
	}
	tl, lerr := c.taskLog(ctx, node, upid)
	for i, l := range tl.Lines {
		tl.Lines[i] = scrub.Replace(l)
	}
	if werr != nil {
		e := NewDownloadError(upid, te.ExitStatus, tl.Lines)
		e.Msg = c.scrub(e.Msg)
		return tl, fail(e)
	}
	if lerr != nil {
		log.WithError(scrubError(lerr, scrub)).Warn("downloaded, but the task log could not be read")
	}
	return tl, nil
}

// scrubError rewrites the messages of a classified error (and its task's
// exit status) with r; other errors come back as they are.
func scrubError(err error, r *strings.Replacer) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	e.Msg = r.Replace(e.Msg)
	var te *state.TaskError
	if errors.As(e.Err, &te) {
		te.ExitStatus = r.Replace(te.ExitStatus)
	}
	return err
}

// Task log paging: PVE answers at most limit lines from start (its
// default limit is 50).
const (
	taskLogPage     = 500
	maxTaskLogLines = 10000
)

// taskLog reads a task's log, page by page, up to maxTaskLogLines. On an
// error it returns the lines read so far.
func (c *Client) taskLog(ctx context.Context, node, upid string) (TaskLog, error) {
	if m := upidNodeRE.FindStringSubmatch(upid); m != nil {
		node = m[1]
	}
	tl := TaskLog{UPID: upid}
	for start := 0; ; {
		path := fmt.Sprintf("/nodes/%s/tasks/%s/log?start=%d&limit=%d", node, upid, start, taskLogPage)
		raw, err := c.getData(ctx, path)
		if err != nil {
			return tl, fmt.Errorf("read the log of task %s: %w", upid, err)
		}
		list, _ := raw.([]any)
		for _, it := range list {
			m, _ := it.(map[string]any)
			tl.Lines = append(tl.Lines, str(m["t"]))
		}
		if len(list) < taskLogPage {
			return tl, nil
		}
		if len(tl.Lines) >= maxTaskLogLines {
			tl.Lines, tl.Truncated = tl.Lines[:maxTaskLogLines], true
			return tl, nil
		}
		start += len(list)
	}
}
