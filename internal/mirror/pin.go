package mirror

import (
	"regexp"
	"strings"
)

var (
	reItem     = regexp.MustCompile(`^\s*-\s`)
	reURLLine  = regexp.MustCompile(`^(\s*(?:-\s+)?)url:\s*("?)([^"\s#]+)("?)`)
	reSumsLine = regexp.MustCompile(`^(\s*(?:-\s+)?checksum:\s*)("?)(sha(?:256|512):[0-9a-fA-F]+)("?)`)
)

// PinDesired rewrites a desired file's pinned image checksums to pins
// (PinnedChecksums): for every image whose url is a key of pins, its
// checksum line gets the mirror's. Everything else, comments included,
// is kept as it is. It works on the file's lines, as the images section
// is written (one key a line), which is what the demo and the tests
// copy from desired/templates.yaml.
func PinDesired(yaml []byte, pins map[string]string) []byte {
	lines := strings.SplitAfter(string(yaml), "\n")
	cur := ""
	for i, l := range lines {
		if reItem.MatchString(l) {
			cur = ""
		}
		if m := reURLLine.FindStringSubmatch(l); m != nil {
			cur = m[3]
		}
		if m := reSumsLine.FindStringSubmatchIndex(l); m != nil && cur != "" {
			if pin, ok := pins[cur]; ok {
				lines[i] = l[:m[6]] + pin + l[m[7]:]
			}
		}
	}
	return []byte(strings.Join(lines, ""))
}
