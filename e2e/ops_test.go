package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"latchkey/internal/testkit"
)

// scrape reads the server's metrics the way Prometheus does: over HTTP in
// the exposition format.
func scrape(t *testing.T, srv *testkit.Server) string {
	t.Helper()
	ms := httptest.NewServer(srv.App.Metrics.Handler())
	defer ms.Close()
	resp, err := http.Get(ms.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sample is the value of the series line that starts with series, or -1.
func sample(exposition, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+]+)$`)
	m := re.FindStringSubmatch(exposition)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsCountSignIns: a failed and a successful password sign-in and
// a code exchange show in the counters; latency is labelled by route
// template; the database pool and the Go runtime are exported.
func TestMetricsCountSignIns(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		srv.AddUser(t, "metrics@example.com", "correct horse battery")
		before := scrape(t, srv)
		if v := sample(before, `latchkey_sign_ins_total{method="password",outcome="success"}`); v > 0 {
			t.Fatalf("sign-ins counted before any: %v", v)
		}
		r := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email")
		b := testkit.NewBrowser(t, shopCallback)
		s := r.start()
		page := passwordLogin(t, b, b.Get(s.URL), "metrics@example.com", "wrong password here")
		page = passwordLogin(t, b, page, "metrics@example.com", "correct horse battery")
		page = b.Submit(page.FormWithButton(t, "decision", "allow"))
		q := callback(t, page, shopCallback)
		if _, err := r.OAuth.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(s.PKCE)); err != nil {
			t.Fatal(err)
		}

		after := scrape(t, srv)
		for series, want := range map[string]float64{
			`latchkey_sign_ins_total{method="password",outcome="success"}`: 1,
			`latchkey_sign_ins_total{method="password",outcome="failure"}`: 1,
			`latchkey_tokens_issued_total{grant="authorization_code"}`:     1,
			`latchkey_lockouts_total`:                                      0,
			`latchkey_mails_total{outcome="failed"}`:                       0,
		} {
			if got := sample(after, series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		for _, series := range []string{
			`latchkey_http_request_duration_seconds_count{code="200",route="/oauth2/token"}`,
			`latchkey_http_request_duration_seconds_count{code="401",route="/login"}`,
			`go_sql_open_connections{db_name="latchkey"}`,
			`go_goroutines`,
		} {
			if sample(after, series) < 0 && !strings.Contains(after, series) {
				t.Errorf("no %s in /metrics", series)
			}
		}
	})
}
