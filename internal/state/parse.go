package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	// Time zones must resolve on machines without a tzdata package.
	_ "time/tzdata"
)

// ParseOptions tune Parse.
type ParseOptions struct {
	// PackerRoot is the packer/ workspace that each template's packer and
	// var_file are relative to, as problems name it.
	PackerRoot string
	// Workspace, when set, is asked whether each template's packer
	// directory and var file exist; without it Parse checks only their
	// syntax.
	Workspace Workspace
}

// Workspace answers what the Packer workspace holds. It is the only way
// Parse looks outside the bytes it is given (workspace.Dir implements it
// on the file system).
type Workspace interface {
	// Stat describes the file at rel, a clean slash-separated path below
	// the workspace. It fails with an error wrapping fs.ErrNotExist when
	// nothing is there, and with ErrOutsideWorkspace when rel leads out of
	// the workspace through a symlink.
	Stat(rel string) (fs.FileInfo, error)
}

// ErrOutsideWorkspace says a path leads out of the Packer workspace.
var ErrOutsideWorkspace = errors.New("leads outside the packer workspace (through a symlink)")

// MaxFileSize is the largest desired file Parse reads.
const MaxFileSize = 4 << 20

// Parse reads a desired file from r and validates it. path names the file in
// problems. A file with problems gives a *ValidationError listing all of
// them; other errors come from reading r.
func Parse(r io.Reader, path string, opts ParseOptions) (*Desired, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read desired state %s: %w", path, err)
	}
	p := &parser{file: path, packerRoot: opts.PackerRoot, workspace: opts.Workspace}
	d := p.parseFile(data)
	if len(p.problems) > 0 {
		p.trimProblems()
		return nil, &ValidationError{Problems: p.problems, Omitted: p.omitted}
	}
	sum := sha256.Sum256(data)
	d.Path, d.SHA256, d.PackerRoot = path, hex.EncodeToString(sum[:]), opts.PackerRoot
	return d, nil
}

// parseFile checks the bytes, then the YAML document, then its content.
func (p *parser) parseFile(data []byte) *Desired {
	if len(data) > MaxFileSize {
		p.addf(nil, "", "file is larger than %d bytes", MaxFileSize)
		return nil
	}
	if off := invalidUTF8(data); off >= 0 {
		line, col := position(data, off)
		p.add(Problem{File: p.file, Line: line, Col: col,
			Msg: fmt.Sprintf("file is not valid UTF-8: byte 0x%02x", data[off])})
		return nil
	}
	root := p.document(data)
	if root == nil {
		return nil
	}
	return p.desired(root)
}

// document decodes the one YAML document in data and returns its root.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addf(nil, "", "file is empty; it needs version, vmids and templates")
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.yamlError(err)
		return nil
	default:
		p.addf(&extra, "", "file holds more than one YAML document; keep everything in the first")
		return nil
	}
	if len(doc.Content) == 0 {
		p.addf(nil, "", "file is empty; it needs version, vmids and templates")
		return nil
	}
	if !p.checkExpansion(&doc) {
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		p.addf(root, "", "file is empty; it needs version, vmids and templates")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.addf(root, "", "file must be a mapping with version, vmids and templates, got %s", describe(root))
		return nil
	}
	return root
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError records a YAML syntax error; yaml.v3 tells only the line.
func (p *parser) yamlError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil && n > 0 {
			line = n
		}
		msg = m[2]
	} else if after, ok := bytes.CutPrefix([]byte(msg), []byte("yaml: ")); ok {
		msg = string(after)
	}
	p.add(Problem{File: p.file, Line: line, Col: 1, Msg: "not valid YAML: " + clipLen(msg, 2*maxQuoted)})
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8,
// or -1.
func invalidUTF8(data []byte) int {
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			return off
		}
		off += size
	}
	return -1
}

// position converts a byte offset into a 1-based line and column
// (columns counted in characters, as yaml.v3 counts them).
func position(data []byte, off int) (line, col int) {
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}
