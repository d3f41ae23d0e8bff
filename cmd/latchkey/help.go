package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3".
var version = ""

// versionString names the release (or the module version or VCS revision
// the binary was built from) and the Go version.
func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if v == "" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "dev-" + s.Value[:12]
				}
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	return fmt.Sprintf("latchkey %s (%s)", v, runtime.Version())
}

// wantsHelp: --help, -h or help anywhere asks for help, whatever else the
// line holds, so `latchkey user add --help` never creates a user.
func wantsHelp(args []string) bool {
	if args[0] == "help" {
		return true
	}
	for _, a := range args {
		if a == "--help" || a == "-h" {
			return true
		}
	}
	return false
}

// help is the usage lines of the command args name, or the whole usage.
func help(args []string) string {
	var words []string
	for _, a := range args {
		if a == "help" || strings.HasPrefix(a, "-") {
			continue
		}
		words = append(words, a)
	}
	if len(words) == 0 {
		return usage
	}
	prefix := "  " + strings.Join(words[:min(len(words), 2)], " ")
	var out []string
	lines := strings.Split(usage, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, prefix+" ") && l != prefix {
			continue
		}
		out = append(out, l)
		// Continuation lines are indented further.
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "                "); j++ {
			out = append(out, lines[j])
		}
	}
	if len(out) == 0 && len(words) > 1 {
		return help(words[:1])
	}
	if len(out) == 0 {
		return usage
	}
	return "usage: latchkey [--config FILE] COMMAND\n\n" + strings.Join(out, "\n") + "\n"
}
