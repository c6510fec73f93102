package state

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The shape of the notifications section (docs/notifications.md), kept
// here with its reader; schema_test.go walks these tables against
// desired/templates.schema.json as it does parse_spec.go's.
var (
	notificationFields = []fieldSpec{
		{Key: "sinks", Type: typeArray, Required: true},
		{Key: "routes", Type: typeArray},
		{Key: "repeat_interval", Type: typeString},
		{Key: "give_up_after", Type: typeString},
		{Key: "status_url", Type: typeString},
		{Key: "runbook_url", Type: typeString},
	}
	sinkFields = []fieldSpec{
		{Key: "name", Type: typeString, Required: true},
		{Key: "type", Type: typeString, Required: true, Enum: SinkTypes},
		{Key: "url", Type: typeString},
		{Key: "url_secret", Type: typeString},
		{Key: "hmac_secret", Type: typeString},
		{Key: "token_secret", Type: typeString},
	}
	routeFields = []fieldSpec{
		{Key: "sink", Type: typeString, Required: true},
		{Key: "events", Type: typeArray},
		{Key: "templates", Type: typeArray},
	}
)

var (
	sinkNameSyntax   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	secretNameSyntax = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
)

const (
	sinkNameFormat = "a sink name (lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters)"
	// secretNameProblem never quotes the value: whoever writes a secret
	// where its name belongs must not find it in the error as well.
	secretNameProblem = "is not a secret name (a letter, then letters, digits, '_' or '-', at most 64 characters): " +
		"write the name of the environment variable, env file key or systemd credential that holds the secret, never the secret itself"
)

// sinkSet is the sinks as read.
type sinkSet struct {
	list   []NotifySink
	byName map[string]int // index in list
	// complete says every entry was read with a valid name, so a name not
	// in byName is not declared (rather than hidden by another problem).
	complete bool
}

// readNotifications reads the notifications section (nil when the file
// has none).
func (p *parser) readNotifications(root *mapping) *Notifications {
	v, ok := root.vals["notifications"]
	if !ok {
		return nil
	}
	m := p.readMapping(v.at, v.n, "notifications", notificationFields)
	n := &Notifications{RepeatInterval: DefaultRepeatInterval, GiveUpAfter: DefaultGiveUpAfter, Line: v.at.Line}
	for key, dst := range map[string]*string{"status_url": &n.StatusURL, "runbook_url": &n.RunbookURL} {
		if uv, ok := m.vals[key]; ok && p.checkValue(uv, "notifications."+key, checkNotifyURL(uv.n.Value, "")) {
			*dst = uv.n.Value
		}
	}
	if dv, ok := m.vals["repeat_interval"]; ok {
		d, err := positiveDuration(dv.n.Value, "")
		if p.checkValue(dv, "notifications.repeat_interval", err) {
			n.RepeatInterval = d
		}
	}
	if dv, ok := m.vals["give_up_after"]; ok {
		d, err := positiveDuration(dv.n.Value, "")
		if p.checkValue(dv, "notifications.give_up_after", err) {
			n.GiveUpAfter = d
		}
	}
	sinks := p.readSinks(m)
	n.Sinks = sinks.list
	if rv, ok := m.vals["routes"]; ok {
		for i, item := range rv.n.Content {
			if r, ok := p.readRoute(i, item, sinks); ok {
				n.Routes = append(n.Routes, r)
			}
		}
	} else if !m.has("routes") {
		for _, s := range n.Sinks {
			n.Routes = append(n.Routes, NotifyRoute{Sink: s.Name})
		}
	}
	return n
}

// readSinks reads notifications.sinks.
func (p *parser) readSinks(m *mapping) sinkSet {
	set := sinkSet{byName: map[string]int{}, complete: true}
	v, ok := m.vals["sinks"]
	if !ok {
		set.complete = false
		return set
	}
	if len(v.n.Content) == 0 {
		p.addf(v.at, "notifications.sinks", "names no sink; leave notifications out to send none")
	}
	for i, item := range v.n.Content {
		s, name, ok := p.readSink(i, item)
		if !ok || name == nil {
			set.complete = false
			continue
		}
		if first, dup := set.byName[s.Name]; dup {
			p.addf(name, fmt.Sprintf("notifications.sinks[%d].name", i), "%s is already used by notifications.sinks[%d] (line %d)",
				s.Name, first, set.list[first].Line)
			continue
		}
		set.byName[s.Name] = len(set.list)
		set.list = append(set.list, s)
	}
	return set
}

// readSink reads notifications.sinks[i]. It returns false when the item
// is not a mapping, and the name's node when the name is valid.
func (p *parser) readSink(i int, at *yaml.Node) (NotifySink, *yaml.Node, bool) {
	path := fmt.Sprintf("notifications.sinks[%d]", i)
	n := resolve(at)
	if !p.checkType(value{at: at, n: n}, path, typeObject) {
		return NotifySink{}, nil, false
	}
	m := p.readMapping(at, n, path, sinkFields)
	s := NotifySink{Line: at.Line}
	field := func(key string) string { return joinField(path, key) }
	var name *yaml.Node
	if v, ok := m.vals["name"]; ok {
		s.Name = v.n.Value
		if p.checkValue(v, field("name"), mustMatch(sinkNameSyntax, s.Name, sinkNameFormat)) {
			name = v.at
		}
	}
	for key, dst := range map[string]*string{"url_secret": &s.URLSecret, "hmac_secret": &s.HMACSecret, "token_secret": &s.TokenSecret} {
		if v, ok := m.vals[key]; ok {
			if secretNameSyntax.MatchString(v.n.Value) {
				*dst = v.n.Value
			} else {
				p.addf(v.at, field(key), "%s", secretNameProblem)
			}
		}
	}
	typeOK := false
	if v, ok := m.vals["type"]; ok {
		s.Type = v.n.Value
		typeOK = p.checkValue(v, field("type"), oneOf(s.Type, SinkTypes...))
	}
	urlVal, hasURL := m.vals["url"]
	if hasURL && typeOK && s.Type != SinkSlack && s.Type != SinkTeams &&
		p.checkValue(urlVal, field("url"), checkNotifyURL(urlVal.n.Value, "; put the URL in the env file or a systemd credential and name it with url_secret")) {
		s.URL = urlVal.n.Value
	}
	if typeOK {
		p.checkSinkKeys(s, m, path, at)
	}
	return s, name, true
}

// sinkKeys says which keys a sink type needs (required, with what each
// is for) or refuses (unused); url and url_secret are checked apart.
var sinkKeys = map[string]struct {
	required map[string]string
	unused   []string
}{
	SinkWebhook: {required: map[string]string{"hmac_secret": "the name of the secret that signs each delivery"}, unused: []string{"token_secret"}},
	SinkSlack:   {unused: []string{"hmac_secret", "token_secret"}},
	SinkTeams:   {unused: []string{"hmac_secret", "token_secret"}},
	SinkNtfy:    {unused: []string{"hmac_secret"}},
	SinkGotify:  {required: map[string]string{"token_secret": "the name of the secret that holds the application token"}, unused: []string{"hmac_secret"}},
}

// checkSinkKeys checks the keys of a sink of a valid type against what
// the type needs.
func (p *parser) checkSinkKeys(s NotifySink, m *mapping, path string, at *yaml.Node) {
	field := func(key string) string { return joinField(path, key) }
	// written is where key's value was written (the sink when its value
	// has the wrong type, a problem reported already).
	written := func(key string) *yaml.Node {
		if v, ok := m.vals[key]; ok {
			return v.at
		}
		return at
	}
	secretURL := s.Type == SinkSlack || s.Type == SinkTeams
	switch {
	case secretURL && m.has("url"):
		p.addf(written("url"), field("url"), "a %s webhook URL is itself a credential and must not be written in the desired file; "+
			"put it in the env file or a systemd credential and name it with url_secret", s.Type)
	case m.has("url") && m.has("url_secret"):
		p.addf(written("url_secret"), field("url_secret"), "set url or url_secret, not both")
	case secretURL && !m.has("url_secret"):
		p.addf(at, field("url_secret"), "required for a sink of type %s: the name of the secret that holds its webhook URL", s.Type)
	case !m.has("url") && !m.has("url_secret"):
		p.addf(at, path, "needs url, or url_secret naming the secret that holds the URL")
	}
	keys := sinkKeys[s.Type]
	for k, what := range keys.required {
		if !m.has(k) {
			p.addf(at, field(k), "required for a sink of type %s: %s", s.Type, what)
		}
	}
	for _, k := range keys.unused {
		if m.has(k) {
			p.addf(written(k), field(k), "a sink of type %s has no use for %s", s.Type, k)
		}
	}
}

// readRoute reads notifications.routes[i]; it returns false when the item
// is not a mapping.
func (p *parser) readRoute(i int, at *yaml.Node, sinks sinkSet) (NotifyRoute, bool) {
	path := fmt.Sprintf("notifications.routes[%d]", i)
	n := resolve(at)
	if !p.checkType(value{at: at, n: n}, path, typeObject) {
		return NotifyRoute{}, false
	}
	m := p.readMapping(at, n, path, routeFields)
	r := NotifyRoute{Line: at.Line}
	if v, ok := m.vals["sink"]; ok {
		r.Sink = v.n.Value
		if _, known := sinks.byName[r.Sink]; !known && sinks.complete {
			p.addf(v.at, path+".sink", "no sink is named %s; %s", quote(r.Sink), sinkNames(sinks))
		}
	}
	if v, ok := m.vals["events"]; ok {
		r.Events = p.readStringList(v, path+".events", "leave events out for every kind but build.succeeded", checkEventKind)
	}
	if v, ok := m.vals["templates"]; ok {
		r.Templates = p.readStringList(v, path+".templates", "leave templates out for every template", checkTemplateGlob)
	}
	return r, true
}

// readStringList reads a non-empty list of distinct strings, each checked
// by check; emptyHint says what to write instead of an empty list. It
// returns the valid items (never nil).
func (p *parser) readStringList(v value, field, emptyHint string, check func(string) error) []string {
	if len(v.n.Content) == 0 {
		p.addf(v.at, field, "is empty; %s", emptyHint)
	}
	out := []string{}
	seen := map[string]int{}
	for j, item := range v.n.Content {
		f := fmt.Sprintf("%s[%d]", field, j)
		iv := value{at: item, n: resolve(item)}
		if !p.checkType(iv, f, typeString) || !p.checkValue(iv, f, check(iv.n.Value)) {
			continue
		}
		if first, dup := seen[iv.n.Value]; dup {
			p.addf(iv.at, f, "%s is already listed at %s[%d]", quote(iv.n.Value), field, first)
			continue
		}
		seen[iv.n.Value] = j
		out = append(out, iv.n.Value)
	}
	return out
}

// checkEventKind checks that s is an event kind a route may take.
func checkEventKind(s string) error {
	err := oneOf(s, NotifyEvents...)
	if err != nil && s == NotifyTest {
		return fmt.Errorf("%w; test events reach every sink without a route", err)
	}
	return err
}

// checkTemplateGlob checks a path.Match pattern over template names.
func checkTemplateGlob(s string) error {
	if _, err := path.Match(s, ""); err != nil || s == "" || strings.Contains(s, "/") {
		return fmt.Errorf("%s is not a template name or glob (*, ? and [a-z] as path.Match reads them)", quote(s))
	}
	return nil
}

// sinkNames lists the declared sinks for a message.
func sinkNames(s sinkSet) string {
	if len(s.list) == 0 {
		return "no sink is declared"
	}
	names := make([]string, len(s.list))
	for i, x := range s.list {
		names[i] = x.Name
	}
	slices.Sort(names)
	return "the sinks are " + strings.Join(names, ", ")
}
