package packer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a fake packer (the os/exec exec_test.go
// pattern): when FAKE_PACKER names a mode, TestMain runs fakePacker instead
// of the tests. FAKE_DIR is where the fake leaves its evidence.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FAKE_PACKER"); mode != "" {
		os.Exit(fakePacker(mode, os.Getenv("FAKE_DIR")))
	}
	os.Exit(m.Run())
}

// machine prints one machine-readable line the way Packer does.
func machine(target, typ string, data ...string) {
	for i, d := range data {
		d = strings.ReplaceAll(d, ",", "%!(PACKER_COMMA)")
		d = strings.ReplaceAll(d, "\r", `\r`)
		data[i] = strings.ReplaceAll(d, "\n", `\n`)
	}
	fmt.Printf("%d,%s,%s,%s\n", time.Now().Unix(), target, typ, strings.Join(data, ","))
}

func writeFile(dir, name, content string) {
	if dir != "" {
		_ = os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
}

func fakePacker(mode, dir string) int {
	// Evidence for the tests: what the fake saw of itself.
	cmdline, _ := os.ReadFile("/proc/self/cmdline")
	environ, _ := os.ReadFile("/proc/self/environ")
	writeFile(dir, "cmdline", string(cmdline))
	writeFile(dir, "environ", string(environ))
	writeFile(dir, "args", strings.Join(os.Args[1:], "\n"))
	wd, _ := os.Getwd()
	writeFile(dir, "wd", wd)

	switch mode {
	case "version":
		machine("", "version", "1.11.2")
		machine("", "version-prelease", "")
		machine("", "ui", "say", "Packer v1.11.2")
		return 0
	case "version-human":
		fmt.Println("Packer v1.9.4")
		return 0
	case "plugins":
		fmt.Println("/home/x/.config/packer/plugins/github.com/hashicorp/proxmox/packer-plugin-proxmox_v1.1.1_x5.0_linux_amd64")
		fmt.Println("/p/github.com/hashicorp/qemu/packer-plugin-qemu_v1.1.0_x5.0_linux_amd64_SHA256SUM")
		return 0
	case "exit0":
		machine("null.x", "artifact", "0", "id", "9000")
		return 0
	case "ok":
		machine("", "ui", "say", "==> null.x: Running, with a comma\n==> null.x: and a second line")
		machine("", "ui", "message", "    null.x: provisioner output")
		machine("null.x", "artifact-count", "1")
		machine("null.x", "artifact", "0", "builder-id", "proxmox")
		machine("null.x", "artifact", "0", "id", "9000")
		machine("null.x", "artifact", "0", "end")
		machine("", "ui", "say", "--> null.x: A template was created: 9000")
		fmt.Fprintln(os.Stderr, "a plain stderr line")
		return 0
	case "fail":
		machine("", "ui", "say", "==> null.x: Creating VM")
		machine("", "ui", "error", "Build 'null.x' errored after 1 second: 500 Internal Server Error, try again")
		machine("", "ui", "error", "\n==> Some builds didn't complete successfully and had errors:")
		machine("null.x", "error", "500 Internal Server Error")
		machine("", "ui", "error", "--> null.x: 500 Internal Server Error")
		return 1
	case "echo-secret":
		secret := os.Getenv("PROXMOX_TOKEN")
		machine("", "ui", "error", "auth failed for token "+secret)
		fmt.Fprintln(os.Stderr, "stderr: "+secret)
		return 1
	case "flood":
		fmt.Print(strings.Repeat("y", 200<<10) + "\n") // one line over maxLine
		line := strings.Repeat("x", 1000)
		for i := range 4096 { // about 4 MiB
			fmt.Printf("line %d %s\n", i, line)
		}
		machine("", "ui", "error", "the last error")
		return 1
	case "hang-ignore": // ignores SIGINT (inherited ignored: no startup race): must be killed
		signal.Ignore(syscall.SIGINT)
		machine("", "ui", "say", "started")
		time.Sleep(time.Hour)
		return 0
	case "hang-cleanup": // cleans up on SIGINT and SIGTERM like Packer does
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		machine("", "ui", "say", "started")
		select {
		case <-ch:
		case <-time.After(time.Hour):
		}
		machine("", "ui", "say", "==> null.x: deleting VM 9000")
		writeFile(dir, "cleaned-up", "yes")
		machine("", "ui", "say", "Cleanly cancelled builds after being interrupted.")
		return 1
	case "grandchild-exit0", "grandchild-escape", "grandchild-hang":
		intr := make(chan os.Signal, 1)
		signal.Notify(intr, syscall.SIGINT)
		sub := exec.Command(os.Args[0])
		sub.Env = append(os.Environ(), "FAKE_PACKER=grandchild", "FAKE_DIR=")
		sub.Stdout, sub.Stderr = os.Stdout, os.Stderr // holds the pipes open
		sub.SysProcAttr = &syscall.SysProcAttr{Setsid: mode == "grandchild-escape"}
		ready, readyW, err := os.Pipe()
		if err != nil {
			return 2
		}
		sub.ExtraFiles = []*os.File{readyW}
		if err := sub.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		readyW.Close()
		_, _ = ready.Read(make([]byte, 1)) // the grandchild has written its line
		writeFile(dir, "grandchild.pid", strconv.Itoa(sub.Process.Pid))
		machine("", "ui", "say", "started")
		if mode == "grandchild-hang" { // exits on SIGINT, leaving the grandchild
			<-intr
			return 1
		}
		machine("null.x", "artifact", "0", "id", "9000")
		return 0
	case "templated": // plays templated: runs a build, to be killed with SIGKILL
		exe, _ := os.Executable()
		r := &Runner{Packer: exe, Env: []string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0"}}
		b := Build{Name: "tpl-x", Dir: dir, Output: markerWriter{dir},
			Env: map[string]string{"FAKE_PACKER": "hang-cleanup", "FAKE_DIR": dir}}
		if real := os.Getenv("FAKE_REAL_PACKER"); real != "" {
			r.Packer, r.Env = real, nil
			b.Dir, b.Env, b.LogPath = os.Getenv("FAKE_BUILD_DIR"), nil, filepath.Join(dir, "packer.log")
		}
		_, err := r.Build(context.Background(), b)
		fmt.Fprintln(os.Stderr, err)
		return 1
	case "grandchild":
		signal.Ignore(syscall.SIGINT)
		fmt.Println("grandchild alive")
		if ready := os.NewFile(3, "ready"); ready != nil {
			_, _ = ready.Write([]byte{1})
		}
		time.Sleep(time.Hour)
		return 0
	}
	fmt.Fprintf(os.Stderr, "fake packer: unknown mode %q\n", mode)
	return 3
}

// markerWriter writes the file "packer-started" in its directory when it
// sees the line "started".
type markerWriter struct{ dir string }

func (m markerWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), ": started") {
		writeFile(m.dir, "packer-started", "yes")
	}
	return len(p), nil
}
