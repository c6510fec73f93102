package pvesim

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// downloadParams are download-url's parameters besides node and storage
// (pve-storage src/PVE/API2/Storage/Status.pm 'download_url').
var downloadParams = map[string]bool{"url": true, "content": true, "filename": true, "checksum": true,
	"checksum-algorithm": true, "compression": true, "verify-certificates": true}

var (
	reDownloadURL = regexp.MustCompile(`^https?://.*$`)
	// The extension rules of Status.pm: $ISO_EXT_RE_0, $VZTMPL_EXT_RE_1 and
	// $UPLOAD_IMPORT_EXT_RE_1 of src/PVE/Storage.pm, after a file name
	// normalize_content_filename has made safe.
	reISOExt      = regexp.MustCompile(`(?i)^.+\.(?:iso|img)$`)
	reVztmplExt   = regexp.MustCompile(`(?i)^.+\.(tar|tar\.(gz|xz|zst|bz2))$`)
	reImportExt   = regexp.MustCompile(`^.+\.(ova|qcow2|raw|vmdk)$`)
	reImportExt83 = regexp.MustCompile(`^.+\.(ova)$`)
	reUnsafeChar  = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)
)

// checksumAlgorithms is the checksum-algorithm enum.
var checksumAlgorithms = []string{"md5", "sha1", "sha224", "sha256", "sha384", "sha512"}

// compressions is $PVE::Storage::Plugin::KNOWN_COMPRESSION_FORMATS.
var compressions = []string{"gz", "lzo", "zst", "bz2"}

// downloadRequest is a download-url call that passed the schema.
type downloadRequest struct {
	url, content, filename  string
	checksum, algorithm     string
	compression             string
	verifyCertificates      bool
	storage, node, username string
}

// versionAtLeast reports whether the simulated PVE is major.minor or later.
func (c *Cluster) versionAtLeast(major, minor int) bool {
	parts := strings.Split(c.version, ".")
	ma, _ := strconv.Atoi(parts[0])
	mi := 0
	if len(parts) > 1 {
		mi, _ = strconv.Atoi(parts[1])
	}
	return ma > major || (ma == major && mi >= minor)
}

// downloadContents is the content enum: import since pve-storage 8.2.8
// (commit 40df25d, PVE 8.3).
func (c *Cluster) downloadContents() []string {
	if c.versionAtLeast(8, 3) {
		return []string{"iso", "vztmpl", "import"}
	}
	return []string{"iso", "vztmpl"}
}

// parseDownload checks download-url's parameters against its schema (PVE's
// 400 with every error at once). compression exists since pve-storage
// 8.0.3 (commit 2197ff9, PVE 8.1).
func (c *Cluster) parseDownload(rc *reqCtx) (*downloadRequest, error) {
	errs := map[string]string{}
	for k := range rc.params {
		if !downloadParams[k] && (k != "compression" || !c.versionAtLeast(8, 1)) {
			errs[k] = "property is not defined in schema and the schema does not allow additional properties"
		}
	}
	for _, k := range []string{"url", "content", "filename"} {
		if !rc.has(k) {
			errs[k] = "property is missing and it is not optional"
		}
	}
	enum := func(k string, values []string) {
		if v := rc.param(k); rc.has(k) && !contains(values, v) {
			errs[k] = fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", v, strings.Join(values, ", "))
		}
	}
	enum("content", c.downloadContents())
	enum("checksum-algorithm", checksumAlgorithms)
	enum("compression", compressions)
	if rc.has("url") && !reDownloadURL.MatchString(rc.param("url")) {
		errs["url"] = "value does not match the regex pattern"
	}
	if n := len(rc.param("filename")); n > 255 {
		errs["filename"] = "value may only be 255 characters long"
	}
	if rc.has("checksum") && !rc.has("checksum-algorithm") {
		errs["checksum-algorithm"] = "missing property required by 'checksum'"
	}
	if rc.has("checksum-algorithm") && !rc.has("checksum") {
		errs["checksum"] = "missing property required by 'checksum-algorithm'"
	}
	verify, err := rc.boolParam("verify-certificates", true)
	if err != nil {
		errs["verify-certificates"] = asAPIError(err).errors["verify-certificates"]
	}
	if len(errs) > 0 {
		return nil, paramError(errs)
	}
	return &downloadRequest{url: rc.param("url"), content: rc.param("content"), filename: rc.param("filename"),
		checksum: rc.param("checksum"), algorithm: rc.param("checksum-algorithm"), compression: rc.param("compression"),
		verifyCertificates: verify, storage: rc.pathValue("storage"), node: rc.pathValue("node"), username: rc.user}, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// normalizeContentFilename is PVE::Storage::normalize_content_filename:
// drop a trailing newline and any directory part, and replace every
// character other than ASCII letters, digits, '_', '.' and '-' with '_'.
func normalizeContentFilename(name string) string {
	name = strings.TrimSuffix(name, "\n")
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		name = name[i+1:]
	}
	return reUnsafeChar.ReplaceAllString(name, "_")
}

// checkFilename is Status.pm's extension check per content type; import
// took qcow2, raw and vmdk besides ova in pve-storage 8.3.6 (commit
// 76f695f, PVE 8.4).
func (c *Cluster) checkFilename(content, name string) error {
	switch content {
	case "iso":
		if !reISOExt.MatchString(name) {
			return paramError(map[string]string{"filename": "wrong file extension"})
		}
	case "vztmpl":
		if !reVztmplExt.MatchString(name) {
			return paramError(map[string]string{"filename": "wrong file extension"})
		}
	case "import":
		re := reImportExt
		if !c.versionAtLeast(8, 4) {
			re = reImportExt83
		}
		if !re.MatchString(name) {
			return paramError(map[string]string{"filename": "invalid filename or wrong extension"})
		}
	}
	return nil
}

// downloadURL is POST …/storage/{storage}/download-url. The route checks
// Datastore.AllocateTemplate on the storage and Sys.Audit+Sys.Modify on /
// or Sys.AccessNetwork on the node; the handler then makes Status.pm's
// checks (storage enabled on the node, file based, holding the content
// type; the file name's extension) and forks a "download" task (id: the
// normalized file name) whose worker really fetches the URL (fetch.go).
func downloadURL(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	req, err := c.parseDownload(rc)
	if err != nil {
		return nil, err
	}
	return s.withNode(rc, true, func(node string) (any, error) {
		st, ok := c.storage(req.storage)
		switch {
		case !ok:
			return nil, fail(500, "storage '%s' does not exist", req.storage)
		case st.Disable:
			return nil, fail(500, "storage '%s' is disabled", st.Name)
		case !storageOnNode(st, node):
			return nil, fail(500, "storage '%s' is not available on node '%s'", st.Name, node)
		case !fileStorage(st.Type):
			return nil, fail(500, "can't upload to storage type '%s', not a file based storage!", st.Type)
		case !hasContent(st, req.content):
			return nil, fail(500, "storage '%s' is not configured for content-type '%s'", st.Name, req.content)
		}
		name := normalizeContentFilename(req.filename)
		if err := c.checkFilename(req.content, name); err != nil {
			return nil, err
		}
		d := &download{c: c, req: req, st: st, file: ISOSpec{Storage: st.Name, Content: req.content, File: name}}
		d.dest = pvePath(st, req.content, name)
		return c.startTask(taskSpec{node: node, typ: "download", id: name, user: rc.user,
			work: d.run, commit: d.commit, rollback: d.discard}, rc.tf), nil
	})
}
