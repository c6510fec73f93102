//go:build ignore

// testtimes reads `go test -json` on stdin and prints, per top-level test,
// its result and wall time from its start to the end of its last subtest
// (go test's own figure for a test with parallel subtests leaves them out),
// with the number of subtests and the failed ones. -log FILE writes the
// plain test output there. tools/test-plugin.sh runs it:
//
//	go test -json ... | go run tools/testtimes.go -log pkg.log
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Output  string
}

type test struct {
	name        string
	start, end  time.Time
	result      string // pass, fail, skip; "" while running
	subs, fails int
	failed      []string
}

func main() {
	logPath := flag.String("log", "", "write the plain test output to `file`")
	flag.Parse()
	var log *bufio.Writer
	var logFile *os.File
	if *logPath != "" {
		var err error
		if logFile, err = os.Create(*logPath); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		log = bufio.NewWriter(logFile)
	}
	tests := map[string]*test{}
	var order []string
	pkgResult := ""
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// not JSON: a build error, printed as is
			if log != nil {
				fmt.Fprintln(log, sc.Text())
			}
			fmt.Println(sc.Text())
			continue
		}
		if log != nil && e.Output != "" {
			log.WriteString(e.Output)
		}
		if e.Test == "" {
			if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" {
				pkgResult = e.Action
			}
			continue
		}
		top, sub, isSub := strings.Cut(e.Test, "/")
		t := tests[top]
		if t == nil {
			t = &test{name: top, start: e.Time}
			tests[top] = t
			order = append(order, top)
		}
		if e.Time.After(t.end) {
			t.end = e.Time
		}
		switch e.Action {
		case "pass", "fail", "skip":
			if !isSub {
				t.result = e.Action
			} else {
				t.subs++
				if e.Action == "fail" {
					t.fails++
					t.failed = append(t.failed, sub)
				}
			}
		}
	}
	for _, name := range order {
		t := tests[name]
		res := strings.ToUpper(t.result)
		if res == "" {
			res = "FAIL" // never finished: the binary died or timed out
		}
		line := fmt.Sprintf("--- %s: %s (%.1fs wall)", res, name, t.end.Sub(t.start).Seconds())
		if t.subs > 0 {
			line += fmt.Sprintf(", %d subtests, %d failed", t.subs, t.fails)
		}
		fmt.Println(line)
		for _, f := range t.failed {
			fmt.Printf("    failed: %s/%s\n", name, f)
		}
	}
	if log != nil {
		if err := log.Flush(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		logFile.Close()
	}
	if pkgResult != "pass" {
		os.Exit(1)
	}
}
