package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// profiler records the server's CPU profile of each load test with Linux
// perf (the server needs no profiling endpoint: Go binaries keep frame
// pointers, so perf's call graphs are whole). -perf DIR turns it on; each
// test leaves NAME.data and NAME.txt, the functions by self and by
// inclusive time.
type profiler struct {
	dir    string
	prefix string // the suite, e.g. "sqlite-rs256"
}

var prof *profiler

// start begins recording pid for the test name; the returned func stops
// it and writes the summary. Without -perf both do nothing.
func (p *profiler) start(name string, pid int) func() {
	if p == nil || pid <= 0 {
		return func() {}
	}
	base := filepath.Join(p.dir, p.prefix+"-"+slug(name))
	cmd := exec.Command("perf", "record", "-F", "499", "-g", "-p", fmt.Sprint(pid), "-o", base+".data")
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		log.Printf("perf record: %v", err)
		return func() {}
	}
	time.Sleep(200 * time.Millisecond) // perf attaches before the load starts
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		var sb strings.Builder
		for _, view := range []struct{ title, mode, fields, limit string }{
			{"self time", "--no-children", "overhead,sym", "1.5"},
			{"inclusive time, self time", "--children", "overhead_children,overhead,sym", "3"},
		} {
			out, err := exec.Command("perf", "report", "-i", base+".data", "--stdio", "-q", view.mode,
				"--fields", view.fields, "-g", "none", "--percent-limit", view.limit).Output()
			if err != nil {
				log.Printf("perf report %s: %v", base, err)
				return
			}
			fmt.Fprintf(&sb, "## %s: %s\n%s\n", name, view.title, out)
		}
		if err := os.WriteFile(base+".txt", []byte(sb.String()), 0o644); err != nil {
			log.Print(err)
		}
	}
}

func slug(s string) string {
	s = strings.ToLower(s)
	if i := strings.IndexByte(s, '('); i > 0 {
		s = s[:i]
	}
	return strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, s), "-")
}
