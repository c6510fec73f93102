package pvesim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// wget does what download_file_from_url has wget do (`wget
// --progress=dot:giga -O TMP URL`, LC_ALL=C), with its output lines in the
// task log (blank ones dropped, as run_command does). An error's text is
// what the task's "download failed: …" ends with: wget's last output line,
// or "exit code N" when that line was blank (an HTTP error status: 8; a
// cut connection: 4). Unlike wget it never retries, and it only connects
// to loopback addresses: the simulator sends no traffic elsewhere.
type wget struct {
	url    string
	verify bool // verify-certificates (against the system's CAs)
	now    func() time.Time
	logf   func(string)

	mu       sync.Mutex // the trace's callbacks may outlive the request
	connErr  error      // the last failed connect
	connAddr string     // its address
}

// userAgent is what wget 1.21.3 (Debian bookworm, PVE 8) sends.
const userAgent = "Wget/1.21.3"

// errNotLoopback refuses a host the simulator does not connect to.
type errNotLoopback struct{ host string }

func (e errNotLoopback) Error() string {
	return fmt.Sprintf("pvesim: refusing to connect to '%s': the simulator only downloads from loopback addresses (127.0.0.0/8, ::1, localhost)", e.host)
}

// checkLoopbackHost accepts localhost and loopback IP literals; any other
// name is refused before it is resolved.
func checkLoopbackHost(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return errNotLoopback{host}
}

func (w *wget) stamp() string { return w.now().Format("2006-01-02 15:04:05") }

// get fetches w.url into tmp (shown in the log as shown), feeding h.
func (w *wget) get(ctx context.Context, tmp, shown string, h hash.Hash) error {
	u, err := url.Parse(w.url)
	if err != nil || u.Hostname() == "" {
		line := fmt.Sprintf("%s: Invalid host name.", w.url)
		w.logf(line)
		return errors.New(line)
	}
	if err := checkLoopbackHost(u.Hostname()); err != nil {
		w.logf(err.Error())
		return err
	}
	w.logf(fmt.Sprintf("--%s--  %s", w.stamp(), w.url))
	client := w.client()
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, w.trace()), http.MethodGet, w.url, nil)
	if err != nil {
		return fmt.Errorf("%s: Invalid URL", w.url)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		return w.requestError(ctx, err)
	}
	defer resp.Body.Close()
	w.logf("HTTP request sent, awaiting response... " + resp.Status)
	if resp.StatusCode >= 400 {
		reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)))
		w.logf(fmt.Sprintf("%s ERROR %d: %s.", w.stamp(), resp.StatusCode, reason))
		return errors.New("exit code 8")
	}
	w.logf(lengthLine(resp.ContentLength, resp.Header.Get("Content-Type")))
	w.logf(fmt.Sprintf("Saving to: '%s'", shown))
	return w.save(ctx, resp, tmp, shown, h)
}

// client never uses a proxy, dials loopback addresses only (the host may
// resolve elsewhere) and follows at most 20 redirects to loopback hosts.
func (w *wget) client() *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return errNotLoopback{host}
		}
		return nil
	}}
	tr := &http.Transport{Proxy: nil, DialContext: dialer.DialContext, ForceAttemptHTTP2: false,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: !w.verify}, //nolint:gosec // verify-certificates=0 asks for it
		TLSHandshakeTimeout: 30 * time.Second, ResponseHeaderTimeout: 900 * time.Second, DisableCompression: true}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.Response != nil {
			w.logf("HTTP request sent, awaiting response... " + req.Response.Status)
		}
		w.logf(fmt.Sprintf("Location: %s [following]", req.URL))
		if len(via) >= 20 {
			return errors.New("20 redirections exceeded.")
		}
		if err := checkLoopbackHost(req.URL.Hostname()); err != nil {
			return err
		}
		w.logf(fmt.Sprintf("--%s--  %s", w.stamp(), req.URL))
		return nil
	}}
}

// trace logs name resolution and connections as wget does.
func (w *wget) trace() *httptrace.ClientTrace {
	var host string
	return &httptrace.ClientTrace{
		GetConn: func(hostPort string) { host, _, _ = net.SplitHostPort(hostPort) },
		DNSDone: func(info httptrace.DNSDoneInfo) {
			var ips []string
			for _, a := range info.Addrs {
				ips = append(ips, a.IP.String())
			}
			w.logf(fmt.Sprintf("Resolving %s (%s)... %s", host, host, strings.Join(ips, ", ")))
		},
		ConnectDone: func(_, addr string, err error) {
			shown := addr
			if net.ParseIP(host) == nil {
				ip, port, _ := net.SplitHostPort(addr)
				shown = fmt.Sprintf("%s (%s)|%s|:%s", host, host, ip, port)
			}
			if err != nil {
				w.mu.Lock()
				w.connErr, w.connAddr = err, shown
				w.mu.Unlock()
				return
			}
			w.logf(fmt.Sprintf("Connecting to %s... connected.", shown))
		},
	}
}

// requestError turns a failed request into wget's last words.
func (w *wget) requestError(ctx context.Context, err error) error {
	var nl errNotLoopback
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	host := ""
	if u, perr := url.Parse(w.url); perr == nil {
		host = u.Hostname()
	}
	w.mu.Lock()
	connErr, connAddr := w.connErr, w.connAddr
	w.mu.Unlock()
	lines := []string{}
	switch {
	case ctx.Err() != nil:
		return errors.New("got interrupted by signal")
	case errors.As(err, &nl):
		lines = append(lines, nl.Error())
	case errors.As(err, &unknown):
		lines = append(lines, fmt.Sprintf("ERROR: The certificate of '%s' is not trusted.", host),
			fmt.Sprintf("ERROR: The certificate of '%s' doesn't have a known issuer.", host))
	case errors.As(err, &hostErr):
		lines = append(lines, fmt.Sprintf("The certificate's owner does not match hostname '%s'", host))
	case errors.As(err, &invalid):
		lines = append(lines, fmt.Sprintf("ERROR: The certificate of '%s' has expired.", host))
	case connErr != nil:
		lines = append(lines, fmt.Sprintf("Connecting to %s... failed: %s.", connAddr, errnoText(connErr)))
	case strings.Contains(err.Error(), "redirections exceeded"):
		lines = append(lines, "20 redirections exceeded.")
	default:
		w.logf("HTTP request sent, awaiting response... No data received.")
		return errors.New("exit code 4")
	}
	for _, l := range lines {
		w.logf(l)
	}
	return errors.New(lines[len(lines)-1])
}

// errnoText is the C library's text for a connect error ("Connection
// refused").
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// save streams the body to tmp through h with a fixed buffer: the
// download is never held in memory.
func (w *wget) save(ctx context.Context, resp *http.Response, tmp, shown string, h hash.Hash) error {
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		line := fmt.Sprintf("%s: %s", shown, errnoText(err))
		w.logf(line)
		return errors.New(line)
	}
	defer f.Close()
	p := newDots(resp.ContentLength, w.logf)
	buf := make([]byte, 256<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				p.finish(false)
				w.logf(fmt.Sprintf("Cannot write to '%s' (%s).", shown, errnoText(err)))
				return errors.New("exit code 3")
			}
			if h != nil {
				h.Write(buf[:n])
			}
			p.add(int64(n))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			p.finish(false)
			if ctx.Err() != nil {
				return errors.New("got interrupted by signal")
			}
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				w.logf(fmt.Sprintf("%s (%s) - Connection closed at byte %d. Giving up.", w.stamp(), p.rate(), p.done))
			} else {
				w.logf(fmt.Sprintf("%s (%s) - Read error at byte %d/%d (%s). Giving up.", w.stamp(), p.rate(), p.done,
					resp.ContentLength, errnoText(rerr)))
			}
			return errors.New("exit code 4")
		}
	}
	p.finish(true)
	if err := f.Close(); err != nil {
		w.logf(fmt.Sprintf("Cannot write to '%s' (%s).", shown, errnoText(err)))
		return errors.New("exit code 3")
	}
	size := fmt.Sprint(p.done)
	if resp.ContentLength >= 0 {
		size += fmt.Sprintf("/%d", resp.ContentLength)
	}
	w.logf(fmt.Sprintf("%s (%s) - '%s' saved [%s]", w.stamp(), p.rate(), shown, size))
	return nil
}
