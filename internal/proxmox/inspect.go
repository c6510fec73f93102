package proxmox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// What `templated doctor` reads of a cluster. Each method is one request
// (ServerCertificate: one TLS handshake, no request) and names PVE's
// route in its errors.

// Permissions maps an ACL path to the privileges the caller has there,
// each with its propagate flag (GET /access/permissions): what PVE
// computed for every path of its ACL tree and the top-level paths.
type Permissions map[string]map[string]bool

// Has resolves priv at path as PVE does from its answer: the path's own
// entry when PVE listed it, else the nearest listed ancestor's privileges
// that propagate.
func (p Permissions) Has(path, priv string) bool {
	if m, ok := p[path]; ok {
		_, ok := m[priv]
		return ok
	}
	for q := parentPath(path); ; q = parentPath(q) {
		if m, ok := p[q]; ok {
			return m[priv]
		}
		if q == "/" {
			return false
		}
	}
}

func parentPath(path string) string {
	i := strings.LastIndex(path, "/")
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

// Member is one entry of GET /cluster/status: the cluster itself
// (Type "cluster") or a node.
type Member struct {
	Type   string // "cluster" or "node"
	Name   string
	Online bool
}

// NextID is the datacenter's next-id range (GET /cluster/options); Set
// is false when datacenter.cfg has none (PVE then starts at 100).
type NextID struct {
	Set          bool
	Lower, Upper int
}

// StorageState is one storage as GET /nodes/{node}/storage reports it.
type StorageState struct {
	Name    string
	Type    string
	Content []string
	Enabled bool
	Active  bool
	Shared  bool
}

// Certificate is what the API's TLS handshake showed.
type Certificate struct {
	Subject  string
	Issuer   string
	NotAfter time.Time
	// VerifyErr is why the certificate chain did not verify with the
	// client's TLS settings ("" when it did, or when verification is off).
	VerifyErr string
}

// getData sends one GET and returns the "data" member of the answer.
func (c *Client) getData(ctx context.Context, path string) (any, error) {
	return do(ctx, c, c.opts.ReadTimeout, "GET "+path, func(ctx context.Context) (any, error) {
		var body map[string]any
		if err := c.api.GetJsonRetryable(ctx, path, &body, 1); err != nil {
			return nil, err
		}
		return body["data"], nil
	})
}

// Permissions reads the token's effective privileges (GET
// /access/permissions, without a path: every path at once).
func (c *Client) Permissions(ctx context.Context) (Permissions, error) {
	raw, err := c.getData(ctx, "/access/permissions")
	if err != nil {
		return nil, fmt.Errorf("read permissions: %w", err)
	}
	m, _ := raw.(map[string]any)
	out := Permissions{}
	for path, v := range m {
		privs, _ := v.(map[string]any)
		out[path] = map[string]bool{}
		for p, prop := range privs {
			n, _ := num(prop)
			out[path][p] = n == 1
		}
	}
	return out, nil
}

// ClusterStatus lists the cluster and its nodes (GET /cluster/status).
func (c *Client) ClusterStatus(ctx context.Context) ([]Member, error) {
	raw, err := c.getData(ctx, "/cluster/status")
	if err != nil {
		return nil, fmt.Errorf("read cluster status: %w", err)
	}
	list, _ := raw.([]any)
	out := make([]Member, 0, len(list))
	for _, it := range list {
		m, _ := it.(map[string]any)
		online, _ := num(m["online"])
		out = append(out, Member{Type: str(m["type"]), Name: str(m["name"]), Online: online == 1})
	}
	return out, nil
}

// NextIDRange reads datacenter.cfg's next-id (GET /cluster/options).
func (c *Client) NextIDRange(ctx context.Context) (NextID, error) {
	raw, err := c.getData(ctx, "/cluster/options")
	if err != nil {
		return NextID{}, fmt.Errorf("read cluster options: %w", err)
	}
	m, _ := raw.(map[string]any)
	// Without Sys.Audit on / PVE leaves next-id out (as if unset).
	var n NextID
	nid, ok := m["next-id"].(map[string]any)
	if !ok {
		return n, nil
	}
	n.Set = true
	n.Lower = atoiDefault(rawString(nid["lower"]), 100)
	n.Upper = atoiDefault(rawString(nid["upper"]), 1000000)
	return n, nil
}

// NodeTime reads a node's clock (GET /nodes/{node}/time).
func (c *Client) NodeTime(ctx context.Context, node string) (time.Time, error) {
	raw, err := c.getData(ctx, "/nodes/"+url.PathEscape(node)+"/time")
	if err != nil {
		return time.Time{}, fmt.Errorf("read the time of node %s: %w", node, err)
	}
	m, _ := raw.(map[string]any)
	sec, ok := num(m["time"])
	if !ok {
		return time.Time{}, fmt.Errorf("read the time of node %s: no time in the answer", node)
	}
	return time.Unix(int64(sec), 0).UTC(), nil
}

// Storages lists the storages the token may see on node, with their
// state and content types (GET /nodes/{node}/storage).
func (c *Client) Storages(ctx context.Context, node string) ([]StorageState, error) {
	raw, err := c.getData(ctx, "/nodes/"+url.PathEscape(node)+"/storage")
	if err != nil {
		return nil, fmt.Errorf("list storages of node %s: %w", node, err)
	}
	list, _ := raw.([]any)
	out := make([]StorageState, 0, len(list))
	for _, it := range list {
		m, _ := it.(map[string]any)
		en, _ := num(m["enabled"])
		act, _ := num(m["active"])
		sh, _ := num(m["shared"])
		var content []string
		for _, ct := range strings.Split(str(m["content"]), ",") {
			if ct = strings.TrimSpace(ct); ct != "" {
				content = append(content, ct)
			}
		}
		out = append(out, StorageState{Name: str(m["storage"]), Type: str(m["type"]), Content: content,
			Enabled: en == 1, Active: act == 1, Shared: sh == 1})
	}
	return out, nil
}

// Volumes lists the volume ids of one content type on a storage (GET
// /nodes/{node}/storage/{storage}/content?content=TYPE), e.g.
// "local:iso/ubuntu.iso".
func (c *Client) Volumes(ctx context.Context, node, storage, content string) ([]string, error) {
	path := fmt.Sprintf("/nodes/%s/storage/%s/content?content=%s", url.PathEscape(node), url.PathEscape(storage), url.QueryEscape(content))
	raw, err := c.getData(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("list %s volumes on %s: %w", content, storage, err)
	}
	list, _ := raw.([]any)
	out := make([]string, 0, len(list))
	for _, it := range list {
		m, _ := it.(map[string]any)
		out = append(out, str(m["volid"]))
	}
	return out, nil
}

// ServerCertificate makes one TLS handshake with the API and returns its
// certificate. The chain is verified with the client's settings; when
// that fails, the handshake is repeated without verification to read the
// certificate, and VerifyErr says why. A plain TCP failure is an error
// matching ErrUnreachable.
func (c *Client) ServerCertificate(ctx context.Context) (Certificate, error) {
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return Certificate{}, fmt.Errorf("read the API certificate: %w", err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	tc, err := c.cfg.TLSConfig()
	if err != nil {
		return Certificate{}, fmt.Errorf("read the API certificate: %w", err)
	}
	tc.ServerName = u.Hostname()
	cert, verr := c.handshake(ctx, host, tc)
	var verifyErr string
	if verr != nil && !isNetOnly(verr) {
		verifyErr = verr.Error()
		tc.InsecureSkipVerify = true // only to read what the server shows
		cert, verr = c.handshake(ctx, host, tc)
	}
	if verr != nil {
		return Certificate{}, fmt.Errorf("read the API certificate: %w",
			&Error{Kind: ErrUnreachable, Err: verr, Msg: fmt.Sprintf("TLS handshake with %s: cannot reach Proxmox: %v; check PROXMOX_URL and the network", host, verr)})
	}
	cert.VerifyErr = verifyErr
	return cert, nil
}

func (c *Client) handshake(ctx context.Context, host string, tc *tls.Config) (Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ReadTimeout)
	defer cancel()
	d := tls.Dialer{Config: tc}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return Certificate{}, err
	}
	defer conn.Close()
	st := conn.(*tls.Conn).ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return Certificate{}, fmt.Errorf("%s showed no certificate", host)
	}
	leaf := st.PeerCertificates[0]
	return Certificate{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter.UTC()}, nil
}

// isNetOnly reports whether err happened before TLS (no connection).
func isNetOnly(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return !isTLSError(err)
}
