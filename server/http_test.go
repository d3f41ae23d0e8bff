package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/logging"
	"latchkey/server"
)

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestRequestLayer(t *testing.T) {
	var logs testkit.Buffer
	_, log, err := logging.New(&logs, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{
		Configure: func(cfg *config.Config) { cfg.TrustedProxies = []string{"127.0.0.1/32"} },
		Server:    server.Options{Log: log},
	})

	get := func(path string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	r1 := get("/healthz", nil)
	r2 := get("/no/such/page?code=secret-code-value", map[string]string{"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Request-Id": "proxy-id-1"})
	id1 := r1.Header.Get("X-Request-Id")
	if id1 == "" || r1.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers: %v", r1.Header)
	}
	if got := r2.Header.Get("X-Request-Id"); got != "proxy-id-1" {
		t.Errorf("a trusted proxy's request ID is kept: got %q", got)
	}
	if r2.StatusCode != http.StatusNotFound {
		t.Errorf("status %d", r2.StatusCode)
	}

	byID := map[string]map[string]any{}
	for _, l := range jsonLines(t, logs.String()) {
		if l["msg"] == "request" {
			byID[l["request_id"].(string)] = l
		}
	}
	l1, l2 := byID[id1], byID["proxy-id-1"]
	if l1 == nil || l2 == nil {
		t.Fatalf("request lines missing: %v\n%s", byID, logs.String())
	}
	if l1["route"] != "/healthz" || l1["method"] != "GET" || l1["status"] != float64(200) || l1["duration"] == nil {
		t.Errorf("healthz line: %v", l1)
	}
	if l2["route"] != "(unmatched)" || l2["ip"] != "203.0.113.7" || l2["status"] != float64(404) {
		t.Errorf("unmatched line: %v", l2)
	}
	if strings.Contains(logs.String(), "secret-code-value") {
		t.Error("the query string reached the log")
	}
	n := testutil.CollectAndCount(srv.App.Metrics.Registry(), "latchkey_http_request_duration_seconds")
	if n != 2 {
		t.Errorf("latency series: %d, want 2 (one per route and code)", n)
	}
}

func TestUntrustedForwardedIgnored(t *testing.T) {
	var logs testkit.Buffer
	log := slog.New(logging.ContextHandler(slog.NewJSONHandler(&logs, nil)))
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Server: server.Options{Log: log}})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/healthz", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Request-Id", "forged")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") == "forged" {
		t.Error("an untrusted client chose its request ID")
	}
	for _, l := range jsonLines(t, logs.String()) {
		if l["msg"] == "request" && l["ip"] != "127.0.0.1" {
			t.Errorf("untrusted X-Forwarded-For believed: %v", l)
		}
	}
}

// TestSignInLogLinesForFail2ban: a failed sign-in is one text line a
// fail2ban filter (failregex = msg="sign-in failed" ip=<HOST> ) matches,
// naming the account and not the password; a success names the account too.
func TestSignInLogLinesForFail2ban(t *testing.T) {
	var logs testkit.Buffer
	_, log, err := logging.New(&logs, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Server: server.Options{Log: log}})
	srv.AddUser(t, "ban@example.com", "the right password")
	b := testkit.NewBrowser(t)
	page := b.Get(srv.URL + "/login")
	f := page.FormWithButton(t, "method", "password")
	page = b.Submit(f.Set("identifier", "ban@example.com").Set("password", "a wrong password"))
	f = page.FormWithButton(t, "method", "password")
	b.Submit(f.Set("identifier", "ban@example.com").Set("password", "the right password"))

	text := logs.String()
	failed := regexp.MustCompile(`(?m)^time=\S+ level=WARN msg="sign-in failed" ip=127\.0\.0\.1 account=ban@example\.com method=password request_id=\S+$`)
	if !failed.MatchString(text) {
		t.Errorf("no fail2ban-shaped failure line:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)msg="sign-in succeeded" ip=127\.0\.0\.1 account=ban@example\.com amr=pwd acr=1fa`).MatchString(text) {
		t.Errorf("no success line:\n%s", text)
	}
	if strings.Contains(text, "wrong password") || strings.Contains(text, "right password") {
		t.Errorf("a password reached the log")
	}
}
