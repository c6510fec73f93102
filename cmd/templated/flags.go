package main

import (
	"errors"
	"flag"
	"io"
	"strings"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// errFlagHelp is returned when -h was asked for; it exits 0.
var errFlagHelp = flag.ErrHelp

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints its usage to w.
func newFlagSet(name string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("templated "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	return fs
}

// parseFlags parses args and turns a parse failure into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errFlagHelp
		}
		return &usageError{msg: err.Error()}
	}
	return nil
}
