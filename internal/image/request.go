package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/redact"
)

// DefaultClient is the client a Fetcher uses when given none: proxies from
// HTTPS_PROXY, HTTP_PROXY and NO_PROXY (http.ProxyFromEnvironment, which
// reads them once per process and never proxies loopback addresses),
// timeouts on each phase, and no redirect from https to plain http.
func DefaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          16,
		},
		Timeout:       2 * time.Minute,
		CheckRedirect: checkRedirect,
	}
}

// checkRedirect follows up to 10 redirects and none that leaves https: a
// checksum file is only as trustworthy as the connection it came over.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing a redirect from https to %s", SafeURL(req.URL))
	}
	return nil
}

// SafeURL is u as it may appear in errors, logs and files: without
// userinfo and fragment, and with any query replaced by a marker (a
// signed URL's token lives there).
func SafeURL(u *url.URL) string { return redact.URL(u) }

// stripURLError returns the cause inside a *url.Error, whose own text
// repeats the URL (with its user name).
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// fetch sends one GET, conditional when prev has validators, and returns
// the new cache entry.
func (f *Fetcher) fetch(ctx context.Context, rawURL string, u *url.URL, prev *cached) (*cached, FetchInfo, error) {
	safe := SafeURL(u)
	info := FetchInfo{Requests: 1}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, FetchInfo{}, fmt.Errorf("fetch %s: %w", safe, stripURLError(err))
	}
	req.Header.Set("User-Agent", "templated (checksum files)")
	if prev != nil {
		if prev.etag != "" {
			req.Header.Set("If-None-Match", prev.etag)
		}
		if prev.lastModified != "" {
			req.Header.Set("If-Modified-Since", prev.lastModified)
		}
	}
	conditional := req.Header.Get("If-None-Match") != "" || req.Header.Get("If-Modified-Since") != ""
	log := f.Log.WithFields(logrus.Fields{"url": safe, "conditional": conditional})
	f.stats.requests.Add(1)
	c, err := f.do(req, safe, prev)
	if err != nil {
		f.stats.errors.Add(1)
		log.WithError(err).Debug("checksum file fetch failed")
		return nil, info, err
	}
	info.FetchedAt, info.NotModified, info.FromCache = c.fetchedAt, c.notModified, c.notModified
	if c.notModified {
		f.stats.notModified.Add(1)
	}
	log.WithFields(logrus.Fields{"not_modified": c.notModified, "bytes": len(c.body)}).Debug("checksum file fetched")
	f.persist(u, c)
	return c, info, nil
}

// do sends req and reads the answer.
func (f *Fetcher) do(req *http.Request, safe string, prev *cached) (*cached, error) {
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", safe, stripURLError(err))
	}
	defer resp.Body.Close()
	now := f.Now()
	switch {
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		c := *prev
		c.fetchedAt, c.notModified = now, true
		if v := resp.Header.Get("ETag"); v != "" {
			c.etag = v
		}
		if v := resp.Header.Get("Last-Modified"); v != "" {
			c.lastModified = v
		}
		return &c, nil
	case resp.StatusCode == http.StatusOK:
		if resp.ContentLength > MaxBody {
			return nil, fmt.Errorf("fetch %s: body of %d bytes is over the %d-byte limit", safe, resp.ContentLength, MaxBody)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
		if err != nil {
			return nil, fmt.Errorf("fetch %s: read body: %w", safe, err)
		}
		if len(body) > MaxBody {
			return nil, fmt.Errorf("fetch %s: body is over the %d-byte limit", safe, MaxBody)
		}
		return &cached{
			body: body, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified"),
			fetchedAt: now, memo: new(listingMemo),
		}, nil
	default:
		return nil, fmt.Errorf("fetch %s: HTTP %s", safe, redact.Bound(resp.Status, 200))
	}
}
