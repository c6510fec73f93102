package pvesim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// reqCtx is what a handler gets: path variables, merged parameters, the
// authenticated token and the task effect of a matched fault.
type reqCtx struct {
	r      *http.Request
	routed *http.Request // r as the routes matched it: pathValue reads it
	params url.Values
	user   string // token id, the task owner
	tf     *taskFault
	upload *upload
}

type upload struct {
	filename string
	size     int64
}

type handlerFunc func(s *Server, rc *reqCtx) (any, error)

var reAuthToken = regexp.MustCompile(`(?:^|\s)PVEAPIToken(?:=| )([^;]*)`)

// ServeHTTP is the /api2/json entry point. The request is recorded before
// its answer is written, so a client that got an answer finds its request
// in Requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := Request{Time: start, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()}
	ans := s.serve(r, &rec)
	rec.Status = ans.status()
	s.reqs.add(rec)
	s.log.WithFields(logrus.Fields{"method": r.Method, "path": rec.Path, "status": rec.Status,
		"duration": time.Since(start).Round(time.Microsecond).String()}).Debug("request")
	ans.write(w, r)
}

// answer is what serve decided to send: data, an error, or nothing (a
// dropped connection or a client that went away).
type answer struct {
	body []byte // a success envelope
	err  *apiError
	drop bool
	gone bool
}

func errAnswer(e *apiError) answer { return answer{err: e} }

// dataAnswer encodes a success envelope {"data": v}.
func dataAnswer(v any) answer {
	b, err := json.Marshal(struct {
		Data any `json:"data"`
	}{v})
	if err != nil {
		return errAnswer(fail(500, "unable to encode result: %v", err))
	}
	return answer{body: b}
}

func (a answer) status() int {
	switch {
	case a.drop || a.gone:
		return 0
	case a.err != nil:
		return a.err.status
	}
	return http.StatusOK
}

func (a answer) write(w http.ResponseWriter, r *http.Request) {
	switch {
	case a.gone:
	case a.drop:
		dropConnection(w)
	case a.err != nil:
		writeError(w, r, a.err)
	default:
		writeData(w, a.body)
	}
}

func (s *Server) serve(r *http.Request, rec *Request) answer {
	rel, ok := trimAPI(r.URL.Path)
	if !ok {
		return errAnswer(fail(http.StatusNotFound, "Not Found"))
	}
	rec.Path = rel
	user, aerr := s.authenticate(r)
	if aerr != nil {
		if d := s.opts.AuthFailDelay; d > 0 {
			sleepCtx(r.Context(), d)
		}
		return errAnswer(aerr)
	}
	rec.TokenID = user
	if e := checkContentType(r, rel); e != nil {
		return errAnswer(e)
	}
	rc := &reqCtx{r: r, user: user}
	if err := rc.parseParams(); err != nil {
		return errAnswer(asAPIError(err))
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		rec.Form = cloneValues(rc.params)
		for k := range r.URL.Query() {
			delete(rec.Form, k)
		}
	}
	rt, routed, err := s.resolve(r.Method, rel)
	rc.routed = routed
	if eff, hit := s.faults.match(r.Method, rel, rc.vmids()); hit {
		if eff.Latency > 0 && !sleepCtx(r.Context(), eff.Latency) {
			return answer{gone: true}
		}
		if eff.Drop {
			return answer{drop: true}
		}
		if eff.Status != 0 {
			msg := eff.Message
			if msg == "" {
				msg = http.StatusText(eff.Status)
			}
			return errAnswer(&apiError{status: eff.Status, msg: msg, empty: eff.EmptyBody})
		}
		if eff.TaskExit != "" || eff.TaskHang {
			rc.tf = &taskFault{exit: eff.TaskExit, hang: eff.TaskHang}
		}
	}
	if err != nil {
		return errAnswer(asAPIError(err))
	}
	// As PVE::HTTPServer's rest_handler: the permission check, then the
	// proxy to another node, then the method.
	if e := s.authorize(rt, rc); e != nil {
		return errAnswer(e)
	}
	if rt.proxied {
		if e := s.cluster.proxyTo(rc.pathValue("node")); e != nil {
			return errAnswer(e)
		}
	}
	data, err := rt.h(s, rc)
	if err != nil {
		return errAnswer(asAPIError(err))
	}
	return dataAnswer(data)
}

// reUploadPath is the one API path pveproxy treats as a file upload
// (auth_handler's isUpload).
var reUploadPath = regexp.MustCompile(`^/nodes/[^/]+/storage/[^/]+/upload$`)

// checkContentType refuses a request body pveproxy would not read, as its
// unshift_read_header does before any API handler runs: a PUT or POST with
// content that is not an upload must be form-urlencoded or JSON (or have
// no Content-Type); anything else, such as the multipart Content-Type an
// old proxmox-api-go keeps after an upload (packer-plugin-proxmox#150),
// gets 506 with the whole header in the reason phrase and no body.
func checkContentType(r *http.Request, rel string) *apiError {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return nil
	}
	if r.ContentLength == 0 || (r.Method == http.MethodPost && reUploadPath.MatchString(rel)) {
		return nil
	}
	ctype := r.Header.Get("Content-Type")
	if ctype == "" {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(ctype)
	if ct == "application/x-www-form-urlencoded" || ct == "application/json" {
		return nil
	}
	return &apiError{status: 506, msg: fmt.Sprintf("upload 'Content-Type '%s' not implemented", ctype), empty: true}
}

func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return fail(500, "%s", err.Error())
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// authenticate checks the PVEAPIToken header as pve-http-server does.
func (s *Server) authenticate(r *http.Request) (string, *apiError) {
	h := r.Header.Get("Authorization")
	m := reAuthToken.FindStringSubmatch(h)
	if m == nil {
		if h == "" && !hasCookie(r, "PVEAuthCookie") {
			return "", &apiError{status: 401, msg: "No ticket", empty: true}
		}
		return "", &apiError{status: 401, msg: "Authentication failed!", empty: true}
	}
	id, secret, ok := strings.Cut(strings.TrimSpace(m[1]), "=")
	want, known := s.tokens[id]
	if !ok || !known || subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		return "", &apiError{status: 401, msg: "Authentication failed!", empty: true}
	}
	return id, nil
}

func hasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

// parseParams merges query and body parameters (form-urlencoded or
// multipart). A multipart file part is consumed and only its name and size
// kept (an ISO upload).
func (rc *reqCtx) parseParams() error {
	r := rc.r
	rc.params = r.URL.Query()
	if (r.Method != http.MethodPost && r.Method != http.MethodPut) || r.ContentLength == 0 {
		return nil
	}
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := url.Values{}
	switch ct {
	case "multipart/form-data":
		mr := multipart.NewReader(r.Body, ctParams["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fail(400, "unable to parse multipart body: %v", err)
			}
			if p.FileName() != "" {
				n, err := io.Copy(io.Discard, p)
				if err != nil {
					return fail(500, "upload failed: %v", err)
				}
				rc.upload = &upload{filename: p.FileName(), size: n}
				continue
			}
			b, err := io.ReadAll(io.LimitReader(p, 1<<20))
			if err != nil {
				return fail(400, "unable to parse multipart body: %v", err)
			}
			body.Add(p.FormName(), string(b))
		}
	case "application/json":
		var obj map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(&obj); err != nil && err != io.EOF {
			return fail(400, "unable to parse JSON body: %v", err)
		}
		for k, v := range obj {
			body.Set(k, jsonParam(v))
		}
	default:
		b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			return fail(400, "unable to read body: %v", err)
		}
		body, err = url.ParseQuery(string(b))
		if err != nil {
			return fail(400, "unable to parse body: %v", err)
		}
	}
	for k, vs := range body {
		if q, ok := rc.params[k]; ok && len(vs) > 0 && len(q) > 0 && q[0] != vs[0] {
			return paramError(map[string]string{k: "duplicate parameter (already defined in URI) with conflicting values!"})
		}
		rc.params[k] = vs
	}
	return nil
}

// jsonParam turns a JSON body value into PVE's string parameter form.
func jsonParam(v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "1"
		}
		return "0"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// vmids are the VMIDs a request is about, for fault matching.
func (rc *reqCtx) vmids() []int {
	var out []int
	for _, s := range []string{rc.pathValue("vmid"), rc.params.Get("vmid"), rc.params.Get("newid")} {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		}
	}
	if upid := rc.pathValue("upid"); upid != "" {
		if m := reUPID.FindStringSubmatch(upid); m != nil {
			if n, err := strconv.Atoi(m[7]); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// pathValue is a path variable of the request's route ("" if none).
func (rc *reqCtx) pathValue(name string) string { return rc.routed.PathValue(name) }

func (rc *reqCtx) param(k string) string { return rc.params.Get(k) }

func (rc *reqCtx) has(k string) bool { _, ok := rc.params[k]; return ok }

// boolParam reads a PVE boolean parameter (def when absent).
func (rc *reqCtx) boolParam(k string, def bool) (bool, error) {
	if !rc.has(k) {
		return def, nil
	}
	b, ok := normalizeBool(rc.param(k))
	if !ok {
		return false, paramError(map[string]string{k: "type check ('boolean') failed - got '" + rc.param(k) + "'"})
	}
	return b == "1", nil
}

// vmidVar parses the {vmid} path variable.
func (rc *reqCtx) vmidVar() (int, error) { return parseVMID("vmid", rc.pathValue("vmid")) }

// parseVMID parses a VMID parameter as PVE's pve-vmid format does
// (100-999999999), failing with PVE's parameter error for key.
func parseVMID(key, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 || n > 999999999 {
		return 0, paramError(map[string]string{key: "invalid format - value does not look like a valid VM ID"})
	}
	return n, nil
}
