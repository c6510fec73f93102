package gitsource

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// remoteURL is a configured URL split into what may be shown (clean: no
// password; no user info at all for HTTP) and the credentials it held.
type remoteURL struct {
	clean    string
	user     string // HTTP(S) basic-auth user from the URL
	password string // from the URL, any scheme
	ssh      bool
}

// parseURL accepts https://, http://, ssh://, file:// and scp-like
// user@host:path URLs.
func parseURL(raw string) (remoteURL, error) {
	if raw == "" {
		return remoteURL{}, errors.New("git source: url is required")
	}
	if !strings.Contains(raw, "://") {
		// scp-like: [user@]host:path (never a password)
		at, colon := strings.Index(raw, "@"), strings.Index(raw, ":")
		if colon <= 0 || (at >= 0 && at > colon) || strings.HasPrefix(raw, "/") {
			return remoteURL{}, fmt.Errorf("git source: url %q: want https://, ssh://, file:// or user@host:path", raw)
		}
		return remoteURL{clean: raw, ssh: true}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, password and all.
		return remoteURL{}, errors.New("git source: url does not parse")
	}
	out := remoteURL{}
	if u.User != nil {
		out.password, _ = u.User.Password()
	}
	switch u.Scheme {
	case "https", "http":
		if u.User != nil {
			out.user = u.User.Username()
		}
		u.User = nil
	case "ssh":
		out.ssh = true
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
	case "file":
		u.User = nil
		if u.Host != "" && u.Host != "localhost" {
			return remoteURL{}, fmt.Errorf("git source: url %s: a file URL names a local path", u.String())
		}
	default:
		return remoteURL{}, fmt.Errorf("git source: url scheme %q: want https, http, ssh or file", u.Scheme)
	}
	if u.Path == "" || u.Path == "/" {
		return remoteURL{}, fmt.Errorf("git source: url %s names no repository", u.String())
	}
	out.clean = u.String()
	return out, nil
}

// sshTarget returns the user and the host:port an SSH URL names.
func sshTarget(clean string) (user, hostPort string, err error) {
	ep, err := transport.NewEndpoint(clean)
	if err != nil {
		return "", "", fmt.Errorf("git source: url %s: %w", clean, err)
	}
	user = ep.User
	if user == "" {
		user = "git"
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	return user, fmt.Sprintf("%s:%d", ep.Host, port), nil
}

// cleanPath checks the configured subdirectory: relative, inside the
// repository.
func cleanPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	c := path.Clean(p)
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("git source: path %q must stay inside the repository", p)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}
