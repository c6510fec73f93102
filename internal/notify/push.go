package notify

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// text is the event as plain lines: the message, then the facts and the
// links (ntfy's body; gotify's, as Markdown when markdown is set).
func text(e Event, markdown bool) string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, f := range facts(e) {
		fmt.Fprintf(&b, "\n%s: %s", f.name, f.value)
	}
	for _, l := range e.Links {
		if markdown {
			fmt.Fprintf(&b, "\n[%s](%s)", l.Name, l.URL)
		} else {
			fmt.Fprintf(&b, "\n%s: %s", l.Name, l.URL)
		}
	}
	return b.String()
}

// headerText makes s fit for a header: RFC 2047 encoded when it is not
// ASCII (ntfy decodes it).
func headerText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return mime.BEncoding.Encode("UTF-8", s)
		}
	}
	return s
}

// ntfy renders e as a publish to an ntfy topic: the text as the body,
// title, priority, tags and click action in headers.
func (s *httpSink) ntfy(e Event) (request, error) {
	h := http.Header{}
	h.Set("Title", headerText(title(e)))
	h.Set("Priority", map[Severity]string{Critical: "urgent", Warning: "high", Info: "default"}[e.Severity])
	h.Set("Tags", marker(e)+","+e.Kind)
	if len(e.Links) > 0 {
		h.Set("Click", e.Links[0].URL)
	}
	if s.token != "" {
		h.Set("Authorization", "Bearer "+s.token)
	}
	return request{body: []byte(text(e, false)), contentType: "text/plain; charset=utf-8", header: h}, nil
}

// gotifyMessage is the body of POST /message.
type gotifyMessage struct {
	Title    string         `json:"title"`
	Message  string         `json:"message"`
	Priority int            `json:"priority"`
	Extras   map[string]any `json:"extras,omitempty"`
}

// gotify renders e as a Gotify message (Markdown), authenticated with the
// application token in X-Gotify-Key, never in the URL.
func (s *httpSink) gotify(e Event) (request, error) {
	m := gotifyMessage{Title: title(e), Message: text(e, true),
		Priority: map[Severity]int{Critical: 8, Warning: 5, Info: 2}[e.Severity],
		Extras:   map[string]any{"client::display": map[string]string{"contentType": "text/markdown"}}}
	if len(e.Links) > 0 {
		m.Extras["client::notification"] = map[string]any{"click": map[string]string{"url": e.Links[0].URL}}
	}
	body, err := json.Marshal(m)
	h := http.Header{}
	h.Set("X-Gotify-Key", s.token)
	return request{body: body, contentType: "application/json", header: h}, err
}
