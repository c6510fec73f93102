package ledger

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The witness tests run a real litewitness (filippo.io/torchwood, built
// from the Go module proxy) on loopback, its key in an ssh-agent.

const torchwoodVersion = "v0.6.1"

var (
	litewitnessOnce sync.Once
	litewitnessBin  string
	litewitnessErr  error
)

// litewitnessTools builds litewitness and witnessctl once per test binary,
// or skips (fails when TEMPLATED_REQUIRE_PACKER=1, as CI sets).
func litewitnessTools(t testing.TB) string {
	t.Helper()
	litewitnessOnce.Do(func() {
		dir, err := os.MkdirTemp("", "litewitness-bin-")
		if err != nil {
			litewitnessErr = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		cmd := exec.Command(goBin, "install", "filippo.io/torchwood/cmd/litewitness@"+torchwoodVersion, "filippo.io/torchwood/cmd/witnessctl@"+torchwoodVersion)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			litewitnessErr = &buildError{string(out), err}
			return
		}
		litewitnessBin = dir
	})
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil && litewitnessErr == nil {
			litewitnessErr = &buildError{tool + " not found (Debian: openssh-client; make deps)", err}
		}
	}
	if litewitnessErr != nil {
		if os.Getenv("TEMPLATED_REQUIRE_PACKER") == "1" {
			t.Fatalf("litewitness unavailable: %v", litewitnessErr)
		}
		t.Skipf("litewitness unavailable (set TEMPLATED_REQUIRE_PACKER=1 to fail instead): %v", litewitnessErr)
	}
	return litewitnessBin
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// litewitness is one witness process with its own ssh-agent and database.
type litewitness struct {
	t         testing.TB
	bin, dir  string
	sock, fp  string
	addr      string
	cmd       *exec.Cmd
	cfg       WitnessConfig
	agentProc *os.Process
}

// startLitewitness starts a witness that knows the ledger origin and key.
func startLitewitness(t testing.TB, origin, ledgerVkey string) *litewitness {
	t.Helper()
	bin := litewitnessTools(t)
	dir, err := os.MkdirTemp("", "lw-") // short: the agent socket path is limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &litewitness{t: t, bin: bin, dir: dir, sock: filepath.Join(dir, "s")}
	key := filepath.Join(dir, "wkey")
	w.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "witness", "-f", key)
	fpOut := w.run("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub")
	w.fp = strings.Fields(fpOut)[1]
	agent := exec.Command("ssh-agent", "-D", "-a", w.sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	w.agentProc = agent.Process
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	waitFor(t, func() bool { _, err := os.Stat(w.sock); return err == nil })
	w.runEnv([]string{"SSH_AUTH_SOCK=" + w.sock}, "ssh-add", key)
	db := filepath.Join(dir, "w.db")
	w.run(filepath.Join(bin, "witnessctl"), "add-log", "-db", db, "-origin", origin)
	w.run(filepath.Join(bin, "witnessctl"), "add-key", "-db", db, "-origin", origin, "-key", ledgerVkey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = l.Addr().String()
	l.Close()
	w.start()
	t.Cleanup(w.stop)
	return w
}

var vkeyRE = regexp.MustCompile(`vkey=(\S+)`)

func (w *litewitness) start() {
	t := w.t
	t.Helper()
	w.cmd = exec.Command(filepath.Join(w.bin, "litewitness"), "-db", filepath.Join(w.dir, "w.db"),
		"-name", "witness.test/w1", "-key", w.fp, "-ssh-agent", w.sock, "-listen", w.addr)
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	vkey := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := vkeyRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case vkey <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case v := <-vkey:
		w.cfg = WitnessConfig{Name: "w1", VerifierKey: v, URL: "http://" + w.addr}
	case <-time.After(20 * time.Second):
		t.Fatal("litewitness printed no verifier key")
	}
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + w.addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

func (w *litewitness) stop() {
	if w.cmd != nil && w.cmd.Process != nil {
		w.cmd.Process.Kill()
		w.cmd.Wait()
		w.cmd = nil
	}
}

func (w *litewitness) run(name string, args ...string) string { return w.runEnv(nil, name, args...) }

func (w *litewitness) runEnv(env []string, name string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func waitFor(t testing.TB, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("timed out waiting")
}
