package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

const schemaPath = "../../desired/templates.schema.json"

type jsonSchema struct{ doc map[string]any }

func loadSchema(t *testing.T) *jsonSchema {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", schemaPath, err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", doc["$schema"])
	}
	return &jsonSchema{doc: doc}
}

// resolve follows a local $ref ("#/$defs/x"); keys next to $ref are kept
// and win over the target's.
func (s *jsonSchema) resolve(t *testing.T, node any) map[string]any {
	t.Helper()
	m, ok := node.(map[string]any)
	if !ok {
		t.Fatalf("schema node %v is not an object", node)
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	var target any = s.doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		target = target.(map[string]any)[part]
	}
	out := map[string]any{}
	for k, v := range s.resolve(t, target) {
		out[k] = v
	}
	for k, v := range m {
		if k != "$ref" {
			out[k] = v
		}
	}
	return out
}

// TestSchemaMatchesParser walks the JSON Schema and the parser's field
// tables together: the same keys, required keys, types, enums and bounds.
func TestSchemaMatchesParser(t *testing.T) {
	s := loadSchema(t)
	root := s.resolve(t, s.doc)
	props := root["properties"].(map[string]any)
	notifications := s.resolve(t, props["notifications"])
	notifyProps, _ := notifications["properties"].(map[string]any)
	objects := []struct {
		name   string
		schema map[string]any
		fields []fieldSpec
	}{
		{"root", root, rootFields},
		{"defaults", s.resolve(t, props["defaults"]), settingFields},
		{"vmids", s.resolve(t, props["vmids"]), vmidFields},
		{"template", s.resolve(t, s.resolve(t, props["templates"])["items"]), templateFields},
		{"image", s.resolve(t, s.resolve(t, props["images"])["items"]), imageFields},
		{"notifications", notifications, notificationFields},
		{"notify_sink", s.resolve(t, s.resolve(t, notifyProps["sinks"])["items"]), sinkFields},
		{"notify_route", s.resolve(t, s.resolve(t, notifyProps["routes"])["items"]), routeFields},
	}
	for _, o := range objects {
		t.Run(o.name, func(t *testing.T) { checkSchemaObject(t, s, o.schema, o.fields) })
	}
}

// intBounds are the parser's limits each integer key must show in the schema.
var intBounds = map[string][2]int{
	"vmid":          {MinVMID, MaxVMID},
	"cores":         {1, maxCores},
	"memory":        {minMemoryMiB, maxMemoryMiB},
	"keep_previous": {0, maxKeepPrevious},
	"version":       {FormatVersion, FormatVersion},
}

func checkSchemaObject(t *testing.T, s *jsonSchema, obj map[string]any, fields []fieldSpec) {
	if obj["type"] != "object" || obj["additionalProperties"] != false {
		t.Errorf("want type object with additionalProperties false, got %v / %v", obj["type"], obj["additionalProperties"])
	}
	props, _ := obj["properties"].(map[string]any)
	var schemaKeys, parserKeys, schemaRequired, parserRequired []string
	for k := range props {
		schemaKeys = append(schemaKeys, k)
	}
	req, _ := obj["required"].([]any)
	for _, r := range req {
		schemaRequired = append(schemaRequired, r.(string))
	}
	for _, f := range fields {
		parserKeys = append(parserKeys, f.Key)
		if f.Required {
			parserRequired = append(parserRequired, f.Key)
		}
	}
	sort.Strings(schemaKeys)
	sort.Strings(parserKeys)
	sort.Strings(schemaRequired)
	sort.Strings(parserRequired)
	if !slices.Equal(schemaKeys, parserKeys) {
		t.Errorf("keys: schema %v, parser %v", schemaKeys, parserKeys)
	}
	if !slices.Equal(schemaRequired, parserRequired) {
		t.Errorf("required: schema %v, parser %v", schemaRequired, parserRequired)
	}
	for _, f := range fields {
		if props[f.Key] == nil {
			continue
		}
		p := s.resolve(t, props[f.Key])
		if got := schemaType(p); got != f.Type {
			t.Errorf("%s: schema type %q, parser type %q", f.Key, got, f.Type)
		}
		var enum []string
		if e, ok := p["enum"].([]any); ok {
			for _, v := range e {
				enum = append(enum, fmt.Sprint(v))
			}
		}
		if !slices.Equal(enum, f.Enum) {
			t.Errorf("%s: schema enum %v, parser enum %v", f.Key, enum, f.Enum)
		}
		if f.Type == typeInteger {
			b, ok := intBounds[f.Key]
			if !ok {
				t.Errorf("%s: integer key without parser bounds in intBounds", f.Key)
			} else if f.Key != "version" && (p["minimum"] != float64(b[0]) || p["maximum"] != float64(b[1])) {
				t.Errorf("%s: schema bounds %v..%v, parser %d..%d", f.Key, p["minimum"], p["maximum"], b[0], b[1])
			}
		}
		if pat, ok := p["pattern"].(string); ok {
			if _, err := regexp.Compile(pat); err != nil {
				t.Errorf("%s: pattern: %v", f.Key, err)
			}
		}
	}
}

// schemaType renders a schema's type as the parser's field tables do.
func schemaType(p map[string]any) string {
	switch ty := p["type"].(type) {
	case string:
		return ty
	case []any:
		var parts []string
		for _, x := range ty {
			parts = append(parts, fmt.Sprint(x))
		}
		sort.Strings(parts)
		return strings.Join(parts, "|")
	}
	return ""
}

// schemaProblems validates a YAML document against the schema with the
// subset of JSON Schema the file uses, returning the field paths of the
// problems, spelled as the parser spells them.
func (s *jsonSchema) problems(t *testing.T, node any, sch any, path string, out map[string]bool) {
	p := s.resolve(t, sch)
	if ty := schemaType(p); ty != "" && !hasJSONType(node, ty) {
		out[path] = true
		return
	}
	switch v := node.(type) {
	case map[string]any:
		props, _ := p["properties"].(map[string]any)
		names, _ := p["propertyNames"].(map[string]any)
		for k, x := range v {
			if names != nil {
				s.problems(t, k, names, joinField(path, k), out)
			}
			if ps, ok := props[k]; ok {
				s.problems(t, x, ps, joinField(path, k), out)
			} else if p["additionalProperties"] == false {
				out[joinField(path, k)] = true
			} else if ps, ok := p["additionalProperties"].(map[string]any); ok {
				s.problems(t, x, ps, joinField(path, k), out)
			}
		}
		if req, ok := p["required"].([]any); ok {
			for _, r := range req {
				if _, ok := v[r.(string)]; !ok {
					out[joinField(path, r.(string))] = true
				}
			}
		}
		deps, _ := p["dependentRequired"].(map[string]any)
		for k, req := range deps {
			if _, ok := v[k]; !ok {
				continue
			}
			for _, r := range req.([]any) {
				if _, ok := v[r.(string)]; !ok {
					out[joinField(path, r.(string))] = true
				}
			}
		}
	case []any:
		if n, ok := p["minItems"].(float64); ok && len(v) < int(n) {
			out[path] = true
		}
		for i, x := range v {
			item := fmt.Sprintf("%s[%d]", path, i)
			if p["uniqueItems"] == true && slices.ContainsFunc(v[:i], func(y any) bool { return reflect.DeepEqual(x, y) }) {
				out[item] = true
			}
			s.problems(t, x, p["items"], item, out)
		}
	case string:
		if pat, ok := p["pattern"].(string); ok && !regexp.MustCompile(pat).MatchString(v) {
			out[path] = true
		}
		if n, ok := p["minLength"].(float64); ok && utf8.RuneCountInString(v) < int(n) {
			out[path] = true
		}
		if n, ok := p["maxLength"].(float64); ok && utf8.RuneCountInString(v) > int(n) {
			out[path] = true
		}
		if e, ok := p["enum"].([]any); ok && !slices.Contains(e, any(v)) {
			out[path] = true
		}
	case int:
		if n, ok := p["minimum"].(float64); ok && float64(v) < n {
			out[path] = true
		}
		if n, ok := p["maximum"].(float64); ok && float64(v) > n {
			out[path] = true
		}
		if e, ok := p["enum"].([]any); ok && !slices.Contains(e, any(float64(v))) {
			out[path] = true
		}
	}
}

func hasJSONType(node any, ty string) bool {
	for _, want := range strings.Split(ty, "|") {
		switch node.(type) {
		case map[string]any:
			if want == "object" {
				return true
			}
		case []any:
			if want == "array" {
				return true
			}
		case string:
			if want == "string" {
				return true
			}
		case bool:
			if want == "boolean" {
				return true
			}
		case int, int64, uint64:
			if want == "integer" {
				return true
			}
		}
	}
	return false
}

func schemaCheckFile(t *testing.T, s *jsonSchema, file string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out := map[string]bool{}
	s.problems(t, stringKeys(doc), s.doc, "", out)
	return out
}

// stringKeys turns the map[any]any yaml.v3 makes for non-string keys into
// map[string]any, as a JSON view of the document would have it.
func stringKeys(node any) any {
	switch v := node.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, x := range v {
			m[fmt.Sprint(k)] = stringKeys(x)
		}
		return m
	case map[string]any:
		for k, x := range v {
			v[k] = stringKeys(x)
		}
	case []any:
		for i, x := range v {
			v[i] = stringKeys(x)
		}
	}
	return node
}

// TestSchemaAcceptsGoodFiles: what the parser accepts, the schema accepts.
func TestSchemaAcceptsGoodFiles(t *testing.T) {
	s := loadSchema(t)
	files, _ := filepath.Glob("testdata/good/*.yaml")
	files = append(files, "../../desired/templates.yaml")
	for _, file := range files {
		if got := schemaCheckFile(t, s, file); len(got) > 0 {
			t.Errorf("%s: schema rejects %v", file, keys(got))
		}
	}
}

// TestSchemaRejectsBadFiles: on bad files whose problems a schema can see,
// the schema flags some of the fields the parser flags, and none other.
func TestSchemaRejectsBadFiles(t *testing.T) {
	s := loadSchema(t)
	for _, name := range []string{
		"unknown-keys", "wrong-types", "wrong-section-types", "missing-required", "missing-ranges",
		"unsupported-version", "name-convention", "bad-os", "bad-release", "bad-build", "bad-hardware",
		"bad-node-storage", "bad-suspend", "bad-durations", "packer-paths", "ranges-malformed",
		"ranges-too-large", "bad-timezone", "bad-cron", "bases-malformed", "image-shapes", "image-names",
		"image-urls", "image-checksums", "image-files", "image-placement", "images-not-a-list",
		"replicas-ranges", "replicas-shapes", "replicas-lists",
		"notify-shapes", "notify-sinks", "notify-credentials", "notify-routes", "notify-empty",
	} {
		t.Run(name, func(t *testing.T) {
			file := "testdata/bad/" + name + ".yaml"
			schemaSees := schemaCheckFile(t, s, file)
			if len(schemaSees) == 0 {
				t.Fatal("schema accepts the file")
			}
			_, err := loadFile(t, file, testPackerRoot)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("parser: %v", err)
			}
			parserSees := map[string]bool{}
			for _, p := range verr.Problems {
				parserSees[p.Field] = true
			}
			for f := range schemaSees {
				if !parserSees[f] {
					t.Errorf("schema flags %s, the parser does not (parser: %v)", f, keys(parserSees))
				}
			}
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
