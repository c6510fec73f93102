package redact

import "net/url"

// URL is u as it may appear in errors, logs and files: without userinfo
// and fragment, and with any query replaced by a marker (a signed URL's
// token lives there).
func URL(u *url.URL) string {
	v := *u
	v.User, v.Fragment, v.RawFragment = nil, "", ""
	q := v.RawQuery
	v.RawQuery, v.ForceQuery = "", false
	if q != "" {
		return v.String() + "?[query redacted]"
	}
	return v.String()
}
