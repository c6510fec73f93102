package image

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-version"
)

// versionKey splits a file name into its dotted numeric runs and the text
// around them (the skeleton, with each run replaced by "\x00"), so that
// "ubuntu-24.04.1-live-server-amd64.iso" reads as the skeleton
// "ubuntu-\x00-live-server-amd\x00.iso" and the versions 24.04.1 and 64.
type versionKey struct {
	skeleton string
	runs     []*version.Version
}

// parseVersionKey reads name's runs; a run go-version cannot read (a
// number too large for it) is an error.
func parseVersionKey(name string) (versionKey, error) {
	var k versionKey
	var skel strings.Builder
	for i := 0; i < len(name); {
		if !isDigit(name[i]) {
			skel.WriteByte(name[i])
			i++
			continue
		}
		j := i
		for j < len(name) && (isDigit(name[j]) || name[j] == '.' && j+1 < len(name) && isDigit(name[j+1])) {
			j++
		}
		v, err := version.NewVersion(name[i:j])
		if err != nil {
			return versionKey{}, fmt.Errorf("%q in %q is not a version: %v", name[i:j], name, err)
		}
		k.runs = append(k.runs, v)
		skel.WriteByte(0)
		i = j
	}
	k.skeleton = skel.String()
	return k, nil
}

// compare compares two keys of one skeleton run by run.
func (k versionKey) compare(o versionKey) int {
	for i := range k.runs {
		if c := k.runs[i].Compare(o.runs[i]); c != 0 {
			return c
		}
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
