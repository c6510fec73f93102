package workspace

import (
	"fmt"
	"strings"
	"testing"
)

func TestConnPrintsWithoutSecret(t *testing.T) {
	const secret = "0b4c8a52-secret-token-value"
	c := Conn{URL: "https://pve:8006/api2/json", TokenID: "templated@pve!ci", TokenSecret: secret}
	holder := struct{ Conn Conn }{c}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{c, &c, holder} {
			got := fmt.Sprintf(f, v)
			if strings.Contains(got, secret) {
				t.Errorf("%s of %T shows the secret: %s", f, v, got)
			}
			if !strings.Contains(got, "templated@pve!ci") {
				t.Errorf("%s of %T lost the token id: %s", f, v, got)
			}
		}
	}
	if BuildEnv(c)["PROXMOX_TOKEN_SECRET"] != secret {
		t.Error("BuildEnv must still hand Packer the secret")
	}
}
