package daemon

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"templated/internal/packer"
)

const unitPath = "../../systemd/templated.service"

// readUnit parses a unit file into key → values (in order), ignoring
// sections: the keys checked here are unique to [Service] or [Unit].
func readUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line without '=': %q", line)
		}
		kv[k] = append(kv[k], v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestUnitSettings(t *testing.T) {
	u := readUnit(t, unitPath)
	one := func(k string) string {
		t.Helper()
		if len(u[k]) != 1 {
			t.Fatalf("%s set %d times, want once", k, len(u[k]))
		}
		return u[k][0]
	}
	for k, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "main", "User": "templated", "KillMode": "mixed",
		"ExecReload": "/bin/kill -HUP $MAINPID", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
		"PrivateTmp": "yes", "CapabilityBoundingSet": "", "StateDirectory": "templated", "UMask": "0077",
		"Restart": "on-failure", "SystemCallArchitectures": "native", "SystemCallErrorNumber": "EPERM",
	} {
		if got := one(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	exec := one("ExecStart")
	if !regexp.MustCompile(`^/usr/local/bin/templated daemon -f \S+/desired/templates\.yaml --listen 127\.0\.0\.1:\d+$`).MatchString(exec) {
		t.Errorf("ExecStart=%q", exec)
	}
	creds := strings.Join(u["LoadCredential"], " ")
	for _, want := range []string{"proxmox-token-secret:/etc/templated/", "ledger.key:/etc/templated/"} {
		if !strings.Contains(creds, want) {
			t.Errorf("LoadCredential lacks %s: %q", want, creds)
		}
	}
	stop, err := time.ParseDuration(one("TimeoutStopSec"))
	if err != nil {
		t.Fatal(err)
	}
	// Stop must outlast Packer's kill grace and the two bounded clean-ups
	// after it (staging VM, answer CD: 2 min each).
	if stop < 2*time.Minute || stop < packer.DefaultKillGrace+4*time.Minute {
		t.Errorf("TimeoutStopSec=%s, want at least Packer's %s grace plus 4 min of clean-up", stop, packer.DefaultKillGrace)
	}
	wd, err := time.ParseDuration(one("WatchdogSec"))
	if err != nil || wd < 10*time.Second {
		t.Errorf("WatchdogSec=%q", one("WatchdogSec"))
	}
	filter := strings.Join(u["SystemCallFilter"], " ")
	for _, want := range []string{"@system-service", "~@privileged", "@resources"} {
		if !strings.Contains(filter, want) {
			t.Errorf("SystemCallFilter lacks %s: %q", want, filter)
		}
	}
	fams := strings.Fields(one("RestrictAddressFamilies"))
	for _, want := range []string{"AF_INET", "AF_INET6", "AF_UNIX"} {
		if !slices.Contains(fams, want) {
			t.Errorf("RestrictAddressFamilies lacks %s (Proxmox API, Packer plugins)", want)
		}
	}
	if v := u["MemoryDenyWriteExecute"]; len(v) != 1 || v[0] != "yes" {
		t.Errorf("MemoryDenyWriteExecute=%v", v)
	}
	for _, k := range []string{"IPAddressDeny", "PrivateNetwork", "DynamicUser"} {
		if len(u[k]) != 0 {
			t.Errorf("%s is set: the daemon needs the Proxmox API and a stable user", k)
		}
	}
}

// TestUnitPassesEnvFileAndKey: the unit hands templated its env file and
// signing key as credentials and names both, so that templated reads the
// file itself (mode check, file:line errors, never a .env in the working
// tree) and never looks for the key elsewhere.
func TestUnitPassesEnvFileAndKey(t *testing.T) {
	u := readUnit(t, unitPath)
	if v := u["EnvironmentFile"]; len(v) != 0 {
		t.Errorf("EnvironmentFile=%v: templated must read its env file itself", v)
	}
	creds := u["LoadCredential"]
	for _, want := range []string{"templated.env:/etc/templated/templated.env", "ledger.key:/etc/templated/ledger.key"} {
		if !slices.Contains(creds, want) {
			t.Errorf("LoadCredential lacks %s: %q", want, creds)
		}
	}
	env := strings.Join(u["Environment"], " ")
	for _, want := range []string{"TEMPLATED_ENV_FILE=%d/templated.env", "TEMPLATED_LEDGER_KEY=%d/ledger.key"} {
		if !slices.Contains(strings.Fields(env), want) {
			t.Errorf("Environment lacks %s: %q", want, env)
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for templated\.service: (\d+\.\d+)`)

// TestUnitSecurityExposure asks systemd-analyze to rate the unit and wants
// 2.0 or lower.
func TestUnitSecurityExposure(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("TEMPLATED_REQUIRE_SYSTEMD") != "" {
			t.Fatalf("systemd-analyze not found and TEMPLATED_REQUIRE_SYSTEMD is set: %v", err)
		}
		t.Skip("systemd-analyze not installed (apt-get install systemd); set TEMPLATED_REQUIRE_SYSTEMD=1 to fail instead")
	}
	unit, err := filepath.Abs(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "security", "--offline=yes", "--threshold=20", "--no-pager", unit).CombinedOutput()
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in the output (err %v):\n%s", err, out)
	}
	score, perr := strconv.ParseFloat(string(m[1]), 64)
	if perr != nil {
		t.Fatal(perr)
	}
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 2.0 || err != nil {
		t.Fatalf("exposure %.1f (threshold 2.0), exit %v:\n%s", score, err, out)
	}
}

func TestEnvExampleHoldsNoSecret(t *testing.T) {
	data, err := os.ReadFile("../../systemd/templated.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`).MatchString(k) {
			t.Errorf("line %d is not KEY=VALUE: %q", i+1, line)
		}
		if strings.Contains(k, "SECRET") {
			t.Errorf("line %d sets %s: the secret goes through LoadCredential", i+1, k)
		}
	}
}
