package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"latchkey/internal/testkit"
)

// Helpers for the tests that drive real relying-party software against the
// built binary, configured from the snippets of docs/integrations.

// needTool finds an external program: skipped without it locally, a
// failure under CI (which installs it, see .ci/run).
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: CI must install it (%s)", name, install)
		}
		t.Skipf("needs %s (%s); skipping", name, install)
	}
	return path
}

// docSnippet returns the fenced block that follows the line
// "<!-- snippet: name -->" in a docs file, so the tests use exactly the
// configuration the guides show.
func docSnippet(t *testing.T, file, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", file))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- snippet: " + regexp.QuoteMeta(name) + " -->\\s*\n```[a-z]*\n(.*?)\n```")
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no snippet %q (a line <!-- snippet: %s --> before a fenced block)", file, name, name)
	}
	return string(m[1])
}

// binServer is the built binary serving on a loopback port.
type binServer struct {
	Issuer string
	Env    []string
	bin    string
	logs   *testkit.Buffer
}

// startLatchkey runs `latchkey serve` on dsn with the clients block (YAML
// list items) and extra top-level YAML; env adds variables the config
// expands.
func startLatchkey(t *testing.T, dsn, clients, extra string, env ...string) *binServer {
	t.Helper()
	bin := latchkeyBinary(t)
	port := testkit.FreePort(t)
	s := &binServer{Issuer: fmt.Sprintf("http://localhost:%d", port), bin: bin, logs: &testkit.Buffer{}}
	cfgPath := filepath.Join(t.TempDir(), "latchkey.yaml")
	cfg := fmt.Sprintf("issuer: %s\nlisten: 127.0.0.1:%d\ndatabase:\n  dsn: %q\nsecrets:\n  keys: [ \"${TEST_SECRET}\" ]\n%s\nclients:\n%s\n",
		s.Issuer, port, dsn, extra, clients)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Env = append(append(os.Environ(), "TEST_SECRET="+testkit.TestSecret, "LATCHKEY_CONFIG="+cfgPath), env...)
	srv := exec.Command(bin, "serve")
	srv.Env, srv.Stdout, srv.Stderr = s.Env, s.logs, s.logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("latchkey log:\n%s", s.logs.String())
		}
	})
	waitHTTP(t, s.Issuer+"/healthz", "latchkey", s.logs)
	return s
}

// addUser runs `latchkey user add` with the given flags.
func (s *binServer) addUser(t *testing.T, email, password string, flags ...string) {
	t.Helper()
	add := exec.Command(s.bin, append([]string{"user", "add", email, "--password-stdin"}, flags...)...)
	add.Env, add.Stdin = s.Env, strings.NewReader(password+"\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
}

// waitHTTP waits until url answers (any status below 500).
func waitHTTP(t *testing.T, url, what string, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start (%v):\n%s", what, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startProcess runs an external program for the test's duration.
func startProcess(t *testing.T, name string, env []string, dir string, args ...string) *testkit.Buffer {
	t.Helper()
	logs := &testkit.Buffer{}
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = env, dir, logs, logs
	// Its own process group, so the cleanup also ends the children it
	// forks (httpd's workers), which would otherwise keep running and hold
	// the output pipe open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(name), logs.String())
		}
	})
	return logs
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
