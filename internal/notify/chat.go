package notify

import (
	"encoding/json"
	"fmt"
	"strings"
)

// marker is the emoji shortcode (Slack, ntfy tags) for an event.
func marker(e Event) string {
	switch {
	case e.Recovery:
		return "white_check_mark"
	case e.Severity == Critical:
		return "rotating_light"
	case e.Severity == Warning:
		return "warning"
	}
	return "information_source"
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackURL keeps a URL from closing Slack's <url|label> early.
var slackURL = strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C")

// slack renders e as a Slack incoming-webhook message (mrkdwn text); it
// is also what Mattermost, Rocket.Chat and Discord's /slack endpoint
// take.
func slack(e Event) (request, error) {
	var b strings.Builder
	fmt.Fprintf(&b, ":%s: *%s* (%s)\n%s", marker(e), slackEscaper.Replace(title(e)), e.Severity, slackEscaper.Replace(e.Message))
	for _, f := range facts(e) {
		fmt.Fprintf(&b, "\n*%s:* %s", f.name, slackEscaper.Replace(f.value))
	}
	if len(e.Links) > 0 {
		b.WriteString("\n")
		for i, l := range e.Links {
			if i > 0 {
				b.WriteString(" · ")
			}
			fmt.Fprintf(&b, "<%s|%s>", slackURL.Replace(l.URL), slackEscaper.Replace(l.Name))
		}
	}
	body, err := json.Marshal(map[string]string{"text": b.String()})
	return request{body: body, contentType: "application/json"}, err
}

// Adaptive Card message shapes (what Teams' Workflows "When a Teams
// webhook request is received" and the legacy incoming-webhook
// connectors take).
type (
	teamsMessage struct {
		Type        string            `json:"type"`
		Attachments []teamsAttachment `json:"attachments"`
	}
	teamsAttachment struct {
		ContentType string    `json:"contentType"`
		ContentURL  *string   `json:"contentUrl"`
		Content     teamsCard `json:"content"`
	}
	teamsCard struct {
		Schema  string        `json:"$schema"`
		Type    string        `json:"type"`
		Version string        `json:"version"`
		Body    []teamsBlock  `json:"body"`
		Actions []teamsAction `json:"actions,omitempty"`
		MSTeams struct {
			Width string `json:"width"`
		} `json:"msteams"`
	}
	teamsBlock struct {
		Type   string      `json:"type"`
		Text   string      `json:"text,omitempty"`
		Weight string      `json:"weight,omitempty"`
		Size   string      `json:"size,omitempty"`
		Color  string      `json:"color,omitempty"`
		Wrap   bool        `json:"wrap,omitempty"`
		Facts  []teamsFact `json:"facts,omitempty"`
	}
	teamsFact struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}
	teamsAction struct {
		Type  string `json:"type"`
		Title string `json:"title"`
		URL   string `json:"url"`
	}
)

// teams renders e as a message with one Adaptive Card.
func teams(e Event) (request, error) {
	color := map[Severity]string{Critical: "Attention", Warning: "Warning", Info: "Default"}[e.Severity]
	if e.Recovery {
		color = "Good"
	}
	card := teamsCard{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4",
		Body: []teamsBlock{
			{Type: "TextBlock", Text: title(e), Weight: "Bolder", Size: "Medium", Color: color, Wrap: true},
			{Type: "TextBlock", Text: e.Message, Wrap: true},
		}}
	card.MSTeams.Width = "Full"
	fs := []teamsFact{{Title: "Severity", Value: string(e.Severity)}}
	for _, f := range facts(e) {
		fs = append(fs, teamsFact{Title: f.name, Value: f.value})
	}
	card.Body = append(card.Body, teamsBlock{Type: "FactSet", Facts: fs})
	for _, l := range e.Links {
		card.Actions = append(card.Actions, teamsAction{Type: "Action.OpenUrl", Title: l.Name, URL: l.URL})
	}
	body, err := json.Marshal(teamsMessage{Type: "message", Attachments: []teamsAttachment{
		{ContentType: "application/vnd.microsoft.card.adaptive", Content: card}}})
	return request{body: body, contentType: "application/json"}, err
}
