package proxmox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"templated/internal/redact"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
	"github.com/sirupsen/logrus"
)

// Options tune a Client. Zero values take the defaults.
type Options struct {
	// Log receives warnings and debug lines (never the secret); nil discards.
	Log logrus.FieldLogger
	// ReadTimeout bounds each read request, retries included (default 30 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds each request that changes state (default 60 s).
	WriteTimeout time.Duration
	// TaskTimeout bounds an operation that waits for a PVE task: clone,
	// convert, delete (default 30 min: a full clone copies whole disks).
	TaskTimeout time.Duration
	// DownloadTimeout bounds the wait for a download-url task
	// (DownloadURL): a cloud image or an installer ISO of several GB from
	// a slow mirror (default 2 h).
	DownloadTimeout time.Duration
	// PollInterval is the pause between task status polls (default 1 s).
	PollInterval time.Duration
	// Transport replaces the HTTP transport (tests); its TLS settings then
	// are the caller's.
	Transport http.RoundTripper
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		o.Log = l
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = 30 * time.Minute
	}
	if o.DownloadTimeout <= 0 {
		o.DownloadTimeout = 2 * time.Hour
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	return o
}

// Client talks to one Proxmox VE cluster through proxmox-api-go. It
// implements reconcile.Cluster. It is safe for concurrent use.
type Client struct {
	api  *pxapi.Client
	cfg  Config
	opts Options
	log  logrus.FieldLogger
	tr   *transport
	// secrets is the token secret, kept out of every error the client
	// returns (PVE and the library may quote a request).
	secrets redact.Secrets
}

// Stats counts what a Client sent and received.
type Stats struct {
	Requests int64
	Bytes    int64 // response bytes as read (after transport decompression)
}

// New builds a Client. It sends no request; use Ping to check the
// connection.
func New(cfg Config, opts Options) (*Client, error) {
	opts = opts.withDefaults()
	if cfg.URL == "" || cfg.TokenID == "" || cfg.TokenSecret == "" {
		return nil, fmt.Errorf("new proxmox client: URL, token id and token secret are required")
	}
	u, err := NormalizeURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("new proxmox client: %w", err)
	}
	cfg.URL = u
	if err := checkTokenID(cfg.TokenID); err != nil {
		return nil, fmt.Errorf("new proxmox client: token id is not USER@REALM!TOKENID: it %w", err)
	}
	var tid pxapi.ApiTokenID
	if err := tid.Parse(cfg.TokenID); err != nil {
		return nil, fmt.Errorf("new proxmox client: token id %q is not USER@REALM!TOKENID", tokenIDShown(cfg.TokenID))
	}
	log := opts.Log.WithField("component", "proxmox")
	base := opts.Transport
	if base == nil {
		tc, err := cfg.TLSConfig()
		if err != nil {
			return nil, fmt.Errorf("new proxmox client: %w", err)
		}
		if cfg.InsecureSkipTLSVerify {
			log.WithField("url", cfg.URL).Warn("TLS certificate verification is OFF (PROXMOX_INSECURE_SKIP_TLS_VERIFY=true); anyone on the path can read the API token")
		}
		base = &http.Transport{
			TLSClientConfig:     tc,
			Proxy:               nil, // like proxmox-api-go: never an environment proxy
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}
	}
	tr := &transport{base: base}
	hc := &http.Client{Transport: tr}
	// taskTimeout: the library's own waits are not used (see wait.go), but
	// 0 would make any of them time out at once.
	api, err := pxapi.NewClient(cfg.URL, hc, "", nil, "", int(opts.TaskTimeout/time.Second), false)
	if err != nil {
		return nil, fmt.Errorf("new proxmox client: %w", err)
	}
	api.SetAPIToken(tid, pxapi.ApiTokenSecret(cfg.TokenSecret.Reveal()))
	c := &Client{api: api, cfg: cfg, opts: opts, log: log, tr: tr}
	if err := c.secrets.Add("", cfg.TokenSecret.Reveal()); err != nil {
		return nil, fmt.Errorf("new proxmox client: %w", err)
	}
	return c, nil
}

// String names the cluster. It keeps fmt from printing the Client's fields,
// the token secret among them (fmt cannot redact unexported fields).
func (c *Client) String() string { return "proxmox client for " + c.cfg.URL }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// Config returns the client's settings (print it: the secret is redacted).
func (c *Client) Config() Config { return c.cfg }

// Stats returns the requests and bytes of the client so far.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.tr.requests.Load(), Bytes: c.tr.bytes.Load()}
}

// Ping checks that the cluster answers and accepts the token (GET /version).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Version(ctx)
	return err
}

// Version returns the PVE version, e.g. "8.4.1" (GET /version).
func (c *Client) Version(ctx context.Context) (string, error) {
	v, err := do(ctx, c, c.opts.ReadTimeout, "GET /version", func(ctx context.Context) (string, error) {
		raw, err := c.api.GetItemConfigMapStringInterface(ctx, "/version", "version", "data")
		if err != nil {
			return "", err
		}
		s, ok := raw["version"].(string)
		if !ok || s == "" {
			return "", fmt.Errorf("GET /version: no version in answer")
		}
		return s, nil
	})
	if err != nil {
		return "", fmt.Errorf("read version: %w", err)
	}
	return v, nil
}
