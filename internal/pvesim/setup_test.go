package pvesim

import (
	"strings"
	"testing"
)

func TestParseTokens(t *testing.T) {
	got, err := ParseTokens("# tokens for CI\n\nci@pve!bot=0b7c9c9e-1111-2222-3333-444455556666\n  root@pam!x=s2  \n")
	if err != nil || len(got) != 2 || got["ci@pve!bot"] != "0b7c9c9e-1111-2222-3333-444455556666" || got["root@pam!x"] != "s2" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "# only a comment\n", "ci@pve!bot\n", "=secret-only\n", "ci@pve=no-token-name\n"} {
		_, err := ParseTokens(bad)
		if err == nil {
			t.Errorf("%q: want an error", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") && strings.Contains(bad, "secret") {
			t.Errorf("%q: the error quotes the line: %v", bad, err)
		}
	}
}

func TestOptionsFrom(t *testing.T) {
	opts, err := OptionsFrom("", []string{`GET /version status=500 message="x"`}, "ci@pve!bot=s\n")
	if err != nil || opts.Seed == nil || len(opts.Seed.Faults) != 1 || opts.Tokens["ci@pve!bot"] != "s" {
		t.Fatalf("opts %+v, %v", opts, err)
	}
	if _, err := OptionsFrom("", []string{"bogus=1"}, ""); err == nil || !strings.HasPrefix(err.Error(), "fault: ") {
		t.Errorf("bad fault: %v", err)
	}
}
