package daemon

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"templated/internal/redact"
)

// The status page: GET / on the listener, a read-only HTML rendering of
// the same Status that /status encodes, so the two never disagree. It has
// no script, no form and no external asset; it reloads itself.

// pageRefresh is how often the page reloads itself, in seconds.
const pageRefresh = 30

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{"iso": isoTime}).Parse(pageHTML))

// pageCSP allows the page nothing but its own inline style (by hash) and
// the empty data: favicon (which keeps browsers from asking for
// /favicon.ico).
var pageCSP = "default-src 'none'; style-src '" + styleHash(pageHTML) + "'; img-src data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// styleHash is the CSP source of the one <style> element of page.
func styleHash(page string) string {
	_, rest, _ := strings.Cut(page, "<style>")
	css, _, ok := strings.Cut(rest, "</style>")
	if !ok {
		panic("page.html has no <style> element")
	}
	sum := sha256.Sum256([]byte(css))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// servePage answers GET (and HEAD) / with the status page.
func (d *Daemon) servePage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := writePage(&buf, d.Status()); err != nil {
		d.log.WithError(err).Error("status page: render failed")
		http.Error(w, "status page: render failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes()) //nolint:errcheck // the client went away
	}
}

// writePage renders st as the status page; times relative to st.Now.
func writePage(w io.Writer, st Status) error {
	return pageTemplate.Execute(w, newPageData(st))
}

// pageData is what page.html renders.
type pageData struct {
	S       Status
	Refresh int
	State   badge
	Rows    []pageRow
	// Summary counts the templates by their last result.
	Summary string
	GitURL  string
}

// badge is a word that says a state, and its style (ok, bad, warn, info,
// neutral): the word carries the meaning, the colour repeats it.
type badge struct{ Text, Class string }

// pageRow is one template's row. T is a named field, not an embedded
// one: the template finds promoted fields only by a slow search.
type pageRow struct {
	T       TemplateStatus
	Anchor  string
	Results []badge
	Age     string
	Next    string
	// Release is the release at the VMID; Wanted the desired one when it
	// differs (a rebuild pending or failed), else "".
	Release, Wanted string
	// Built, NextAt and LastAt are T's times, formatted once (isoTime).
	Built, NextAt, LastAt string
}

func newPageData(st Status) pageData {
	p := pageData{S: st, Refresh: pageRefresh, State: stateBadge(st)}
	if st.Git != nil {
		p.GitURL = safeURL(st.Git.URL)
	}
	var ok, failed, suspended, none int
	for _, t := range st.Templates {
		row := pageRow{T: t, Anchor: "t-" + t.Name, Results: resultBadges(t),
			Built: isoTime(t.BuiltAt), NextAt: isoTime(t.NextRebuild), LastAt: isoTime(t.LastBuildAt)}
		if !t.BuiltAt.IsZero() {
			row.Age = humanDuration(st.Now.Sub(t.BuiltAt))
		}
		row.Release = cmp.Or(t.BuiltRelease, t.Release)
		if t.BuiltRelease != "" && t.Release != "" && t.BuiltRelease != t.Release {
			row.Wanted = t.Release
		}
		switch {
		case t.NextRebuild.IsZero():
		case !t.NextRebuild.After(st.Now):
			row.Next = "due now"
		default:
			row.Next = "in " + humanDuration(t.NextRebuild.Sub(st.Now))
		}
		switch {
		case t.Suspended:
			suspended++
		case t.LastResult == string(BuildSuccess):
			ok++
		case t.LastResult == string(BuildFailure):
			failed++
		default:
			none++
		}
		p.Rows = append(p.Rows, row)
	}
	p.Summary = fmt.Sprintf("%d ok, %d failed, %d suspended, %d without a build yet", ok, failed, suspended, none)
	return p
}

// stateBadge says the daemon's state.
func stateBadge(st Status) badge {
	b := badge{Text: st.State}
	switch st.State {
	case phaseIdle:
		b.Class = "ok"
	case phaseReconciling:
		b.Class = "info"
	case phaseWaiting:
		b.Class = "warn"
	case phaseBackoff:
		b.Class = "bad"
	}
	if !st.Ready && b.Class == "ok" {
		b.Class = "warn"
	}
	return b
}

// resultBadges says a template's last result, and whether it is
// suspended.
func resultBadges(t TemplateStatus) []badge {
	var out []badge
	switch t.LastResult {
	case string(BuildSuccess):
		out = append(out, badge{"ok", "ok"})
	case string(BuildFailure):
		out = append(out, badge{"failed", "bad"})
	default:
		out = append(out, badge{"no build yet", "neutral"})
	}
	if t.Suspended {
		out = append(out, badge{"suspended", "bad"})
	}
	return out
}

// isoTime is t in UTC, ISO 8601 to the second ("" for the zero time).
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// humanDuration is d in its two largest units: "3d 4h", "2h 5m", "12s".
func humanDuration(d time.Duration) string {
	s := shortDuration(d)
	for i := 1; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' && (s[i-1] < '0' || s[i-1] > '9') {
			return s[:i] + " " + s[i:]
		}
	}
	return s
}

// safeURL is u without userinfo or query, should one ever reach the
// status (the git source strips them already). An scp-like address
// ("git@host:repo") is shown as it is, a URL that does not parse not at
// all.
func safeURL(u string) string {
	p, err := url.Parse(u)
	switch {
	case err != nil && strings.Contains(u, "://"):
		return "(a URL that does not parse)"
	case err != nil || p.Host == "":
		return u
	}
	return redact.URL(p)
}
