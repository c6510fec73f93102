package state

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// credentialParams are query parameter names that carry a credential
// (compared lower-case, '-' and '_' removed).
var credentialParams = []string{"token", "accesstoken", "apikey", "key", "secret", "sig", "signature", "password", "pass", "auth", "code"}

// secretURLs are addresses whose path is itself the credential: services'
// incoming webhooks (host suffix, path prefix).
var secretURLs = []struct{ host, path string }{
	{"hooks.slack.com", "/"},
	{"webhook.office.com", "/"},
	{"logic.azure.com", "/"},
	{"discord.com", "/api/webhooks/"},
	{"discordapp.com", "/api/webhooks/"},
}

// checkNotifyURL checks an address written in the notifications section:
// http or https, with a host, and no credential in it (user:password@, a
// token in the query, an incoming-webhook URL). hint ends the message of a
// credential. Messages never quote the URL: it may be a secret written
// where it does not belong.
func checkNotifyURL(s, hint string) error {
	if strings.IndexFunc(s, badNameRune) >= 0 {
		return errors.New("must not contain whitespace or control characters")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return errors.New("must be an http:// or https:// URL")
	}
	if u.User != nil {
		return fmt.Errorf("holds credentials (user:password@), which never go in the desired file%s", hint)
	}
	if u.Hostname() == "" {
		return errors.New("has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return errors.New("has a bad port")
		}
	}
	host := strings.ToLower(u.Hostname())
	for _, su := range secretURLs {
		if (host == su.host || strings.HasSuffix(host, "."+su.host)) && strings.HasPrefix(u.Path, su.path) {
			return fmt.Errorf("is an incoming-webhook address of %s, which is itself a credential and never goes in the desired file%s", su.host, hint)
		}
	}
	for name := range u.Query() {
		norm := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(name))
		for _, c := range credentialParams {
			if norm == c || strings.HasSuffix(norm, c) && len(c) > 3 {
				return fmt.Errorf("holds a credential in its query (%s=), which never goes in the desired file%s", clip(name), hint)
			}
		}
	}
	return nil
}
