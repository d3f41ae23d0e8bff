package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"latchkey/internal/testkit"
)

// reloadConfig is a config file for the running server with clients and
// extra lines.
func reloadConfig(port int, dir string, clients []string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: http://localhost:%d\nlisten: 127.0.0.1:%d\n", port, port)
	fmt.Fprintf(&b, "database:\n  dsn: sqlite://%s\n", filepath.Join(dir, "latchkey.db"))
	b.WriteString("secrets:\n  keys: [\"reload-test-secret-reload-test-secret-0123\"]\n")
	b.WriteString("log:\n  format: json\n")
	b.WriteString(extra)
	b.WriteString("clients:\n")
	for _, c := range clients {
		fmt.Fprintf(&b, "  - id: %s\n    secret: %s-secret-%s-secret-%s-secret\n    redirect_uris: [\"https://%s.example/cb\"]\n", c, c, c, c, c)
	}
	return b.String()
}

// writeAtomically replaces path the way editors and config managers do:
// a new file renamed over the old one.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// logLines parses the JSON log written so far.
func logLines(t *testing.T, logs *testkit.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// waitLog waits until count lines match; a server that never logs them
// fails the test after a generous deadline.
func waitLog(t *testing.T, logs *testkit.Buffer, count int, match func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var hits []map[string]any
		for _, l := range logLines(t, logs) {
			if match(l) {
				hits = append(hits, l)
			}
		}
		if len(hits) >= count {
			return hits
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d matching log lines, have %d:\n%s", count, len(hits), logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func msgIs(msg, trigger string) func(map[string]any) bool {
	return func(l map[string]any) bool { return l["msg"] == msg && (trigger == "" || l["trigger"] == trigger) }
}

// authorizeStatus starts an authorization for client and says whether the
// server knows it: a known client is sent to /login.
func authorizeStatus(t *testing.T, base, client string) (int, string) {
	t.Helper()
	q := url.Values{"client_id": {client}, "response_type": {"code"}, "scope": {"openid"},
		"redirect_uri": {"https://" + client + ".example/cb"}, "state": {"state-0123456789"}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/oauth2/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestReloadRunningServer edits the config of a running `latchkey serve`:
// a new client works without a restart, a request in flight during the
// swap completes, a broken file changes nothing and each of its problems
// is logged with its field path, a changed listen address is reported as
// needing a restart, and SIGHUP reloads instead of killing the process.
func TestReloadRunningServer(t *testing.T) {
	dir := t.TempDir()
	port := testkit.FreePort(t)
	base := "http://localhost:" + strconv.Itoa(port)
	cfgPath := filepath.Join(dir, "latchkey.yaml")
	writeAtomically(t, cfgPath, reloadConfig(port, dir, []string{"shop"}, ""))

	cmd := latchkey(t, dir, "", "serve", "--config", cfgPath)
	logs, done := start(t, cmd)
	waitLog(t, logs, 1, msgIs("latchkey is serving", ""))

	if code, loc := authorizeStatus(t, base, "shop"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("shop: %d %q", code, loc)
	}
	if code, _ := authorizeStatus(t, base, "newapp"); code == http.StatusSeeOther || code == http.StatusFound {
		t.Fatalf("newapp known before it was configured: %d", code)
	}

	// A token request whose body is still arriving while the swap happens.
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "grant_type=authorization_code&code=nothing&client_id=shop"
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: localhost:%d\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", port, len(body), body[:10])

	writeAtomically(t, cfgPath, reloadConfig(port, dir, []string{"shop", "newapp"}, ""))
	waitLog(t, logs, 1, msgIs("config reloaded", "file change"))

	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight during the reload got no answer: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(raw), `"error":"invalid_client"`) {
		t.Fatalf("in-flight token request: %d %s", resp.StatusCode, raw)
	}

	if code, loc := authorizeStatus(t, base, "newapp"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Fatalf("newapp after reload: %d %q", code, loc)
	}

	broken := strings.Replace(reloadConfig(port, dir, []string{"shop", "newapp", "third"}, "log:\n  level: loud\n"), "log:\n  format: json\n", "", 1)
	broken = strings.Replace(broken, `redirect_uris: ["https://third.example/cb"]`, `redirect_uris: ["/relative"]`+"\n    min_acr: gold", 1)
	writeAtomically(t, cfgPath, broken)
	refused := waitLog(t, logs, 3, msgIs("config reload refused", "file change"))
	fields := map[string]bool{}
	for _, l := range refused {
		fields[fmt.Sprint(l["field"])] = true
	}
	for _, f := range []string{"log.level", "clients[2].redirect_uris[0]", "clients[2].min_acr"} {
		if !fields[f] {
			t.Errorf("problem at %s not logged; logged: %v", f, fields)
		}
	}
	if code, _ := authorizeStatus(t, base, "newapp"); code != http.StatusSeeOther {
		t.Errorf("a broken file changed the running clients: newapp now %d", code)
	}
	if code, _ := authorizeStatus(t, base, "third"); code == http.StatusSeeOther {
		t.Errorf("a client of the broken file was taken")
	}
	// Still JSON, still at info: the broken file's log settings were not applied.
	waitLog(t, logs, 1, func(l map[string]any) bool { return l["msg"] == "request" && l["route"] == "/oauth2/auth" })

	// A new listen address cannot apply to a bound socket: reported, and
	// the rest of the file applies.
	other := testkit.FreePort(t)
	moved := strings.Replace(reloadConfig(port, dir, []string{"shop"}, ""), fmt.Sprintf("listen: 127.0.0.1:%d", port), fmt.Sprintf("listen: 127.0.0.1:%d", other), 1)
	writeAtomically(t, cfgPath, moved)
	hits := waitLog(t, logs, 1, msgIs("config change needs a restart to apply; the old value stays in force", "file change"))
	if hits[0]["field"] != "listen" {
		t.Errorf("restart notice names %v, want listen", hits[0]["field"])
	}
	waitLog(t, logs, 2, msgIs("config reloaded", "file change"))
	if code, _ := authorizeStatus(t, base, "newapp"); code == http.StatusSeeOther {
		t.Errorf("newapp still served after it was removed from the file")
	}

	// SIGHUP reloads and the process lives on.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, 1, msgIs("config reloaded", "SIGHUP"))
	select {
	case err := <-done:
		t.Fatalf("SIGHUP ended the server: %v\n%s", err, logs.String())
	default:
	}
	if code, _ := authorizeStatus(t, base, "shop"); code != http.StatusSeeOther {
		t.Errorf("shop after SIGHUP: %d", code)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve did not shut down cleanly: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve ignored SIGTERM")
	}
}
