package pvesim

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// OptionsFrom builds Options from a seed file ("" for the built-in seed),
// fault specs (ParseFault's syntax, added to the seed's) and API tokens
// (ParseTokens' syntax).
func OptionsFrom(seedFile string, faults []string, tokens string) (Options, error) {
	var opts Options
	if seedFile != "" {
		seed, err := LoadSeed(seedFile)
		if err != nil {
			return opts, err
		}
		opts.Seed = seed
	}
	for _, spec := range faults {
		f, err := ParseFault(spec)
		if err != nil {
			return opts, fmt.Errorf("fault: %w", err)
		}
		if opts.Seed == nil {
			opts.Seed = DefaultSeed()
		}
		opts.Seed.Faults = append(opts.Seed.Faults, f)
	}
	if tokens != "" {
		t, err := ParseTokens(tokens)
		if err != nil {
			return opts, err
		}
		opts.Tokens = t
	}
	return opts, nil
}

// ParseTokens reads API tokens to accept, one `ID=SECRET` a line (blank
// lines and # comments skipped): what `templated sim` reads from its token
// file or environment, so that no secret is in its arguments. Errors name
// the line, never the secret.
func ParseTokens(text string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, secret, ok := strings.Cut(line, "=")
		if !ok || id == "" || secret == "" || !strings.Contains(id, "!") {
			return nil, fmt.Errorf("token line %d: want ID=SECRET (e.g. root@pam!templated=<uuid>)", n)
		}
		out[id] = secret
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no token: want one ID=SECRET a line")
	}
	return out, sc.Err()
}

// WriteInfo tells a person how to reach the simulator: URL, token, CA,
// node, the .env block for templated and a curl line to try.
func (s *Server) WriteInfo(w io.Writer) {
	fmt.Fprintln(w, "Proxmox VE simulator running (stop with Ctrl-C)")
	fmt.Fprintf(w, "  API URL:      %s\n", s.URL())
	fmt.Fprintf(w, "  Token ID:     %s\n", s.TokenID())
	fmt.Fprintf(w, "  Token secret: %s\n", s.TokenSecret())
	if ca := s.CAFile(); ca != "" {
		fmt.Fprintf(w, "  CA file:      %s\n", ca)
	}
	fmt.Fprintf(w, "  Node:         %s\n", s.Node())
	fmt.Fprintln(w, "\n# .env for templated (paste into a file with mode 0600)")
	fmt.Fprint(w, s.DotEnv())
	fmt.Fprintln(w, "\n# try it:")
	ca := ""
	if s.CAFile() != "" {
		ca = "--cacert " + s.CAFile() + " "
	}
	fmt.Fprintf(w, "curl %s-H 'Authorization: %s' '%s/cluster/resources?type=vm'\n", ca, s.AuthHeader(), s.URL())
}
