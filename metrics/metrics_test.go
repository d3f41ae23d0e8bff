package metrics_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"latchkey/metrics"
)

// scrape serves GET /metrics from m's handler and returns the exposition
// text's series: "name{labels}" -> value as written, and the "# TYPE" lines.
func scrape(t *testing.T, m *metrics.Metrics) (series map[string]string, types map[string]string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	series, types = map[string]string{}, map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			types[name] = typ
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		series[line[:i]] = line[i+1:]
	}
	return series, types
}

// TestMetrics drives each collector through its method, on a fresh
// Metrics, and reads the scrape: the names, types and labels are the
// SPEC's (Operations), the values what was recorded.
func TestMetrics(t *testing.T) {
	const dur = `latchkey_http_request_duration_seconds`
	tests := []struct {
		name   string
		record func(m *metrics.Metrics)
		types  map[string]string
		want   map[string]string // series -> value
		absent []string
	}{
		{
			name:   "nothing recorded: the outcomes and the lockout counter exist at zero",
			record: func(*metrics.Metrics) {},
			types:  map[string]string{"latchkey_mails_total": "counter", "latchkey_lockouts_total": "counter"},
			want: map[string]string{
				`latchkey_mails_total{outcome="sent"}`:   "0",
				`latchkey_mails_total{outcome="failed"}`: "0",
				`latchkey_lockouts_total`:                "0",
			},
			absent: []string{`latchkey_sign_ins_total`, `latchkey_tokens_issued_total`, dur + `_count`},
		},
		{
			name: "sign-ins by method and outcome",
			record: func(m *metrics.Metrics) {
				m.SignIn("password", metrics.Success)
				m.SignIn("password", metrics.Failure)
				m.SignIn("password", metrics.Failure)
				m.SignIn("passkey", metrics.Success)
			},
			types: map[string]string{"latchkey_sign_ins_total": "counter"},
			want: map[string]string{
				`latchkey_sign_ins_total{method="password",outcome="success"}`: "1",
				`latchkey_sign_ins_total{method="password",outcome="failure"}`: "2",
				`latchkey_sign_ins_total{method="passkey",outcome="success"}`:  "1",
			},
			absent: []string{`latchkey_sign_ins_total{method="passkey",outcome="failure"}`},
		},
		{
			name: "tokens by grant",
			record: func(m *metrics.Metrics) {
				m.TokenIssued("authorization_code")
				m.TokenIssued("refresh_token")
				m.TokenIssued("refresh_token")
				m.TokenIssued("client_credentials")
			},
			types: map[string]string{"latchkey_tokens_issued_total": "counter"},
			want: map[string]string{
				`latchkey_tokens_issued_total{grant="authorization_code"}`: "1",
				`latchkey_tokens_issued_total{grant="refresh_token"}`:      "2",
				`latchkey_tokens_issued_total{grant="client_credentials"}`: "1",
			},
		},
		{
			name:   "lockouts",
			record: func(m *metrics.Metrics) { m.Lockout(); m.Lockout() },
			types:  map[string]string{"latchkey_lockouts_total": "counter"},
			want:   map[string]string{`latchkey_lockouts_total`: "2"},
		},
		{
			name: "mails by outcome",
			record: func(m *metrics.Metrics) {
				m.Mail(metrics.MailSent)
				m.Mail(metrics.MailSent)
				m.Mail(metrics.MailFailed)
			},
			want: map[string]string{
				`latchkey_mails_total{outcome="sent"}`:   "2",
				`latchkey_mails_total{outcome="failed"}`: "1",
			},
		},
		{
			name: "request latency by route template and code",
			record: func(m *metrics.Metrics) {
				m.Request("/login", http.StatusOK, 3*time.Millisecond)
				m.Request("/login", http.StatusOK, 200*time.Millisecond)
				m.Request("/oauth2/token", http.StatusServiceUnavailable, 20*time.Second)
			},
			types: map[string]string{dur: "histogram"},
			want: map[string]string{
				dur + `_count{code="200",route="/login"}`:                   "2",
				dur + `_sum{code="200",route="/login"}`:                     "0.203",
				dur + `_bucket{code="200",route="/login",le="0.005"}`:       "1",
				dur + `_bucket{code="200",route="/login",le="0.25"}`:        "2",
				dur + `_bucket{code="200",route="/login",le="+Inf"}`:        "2",
				dur + `_count{code="503",route="/oauth2/token"}`:            "1",
				dur + `_bucket{code="503",route="/oauth2/token",le="10"}`:   "0",
				dur + `_bucket{code="503",route="/oauth2/token",le="+Inf"}`: "1",
			},
		},
		{
			name:   "Go runtime and process metrics",
			record: func(*metrics.Metrics) {},
			types:  map[string]string{"go_goroutines": "gauge", "process_start_time_seconds": "gauge"},
		},
		{
			name:   "a watched database pool, registered once",
			record: func(m *metrics.Metrics) { db := sql.OpenDB(noConn{}); m.WatchDB("main", db); m.WatchDB("main", db) },
			types:  map[string]string{"go_sql_max_open_connections": "gauge"},
			want:   map[string]string{`go_sql_max_open_connections{db_name="main"}`: "0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			tc.record(m)
			series, types := scrape(t, m)
			for name, typ := range tc.types {
				if types[name] != typ {
					t.Errorf("# TYPE %s: %q, want %q", name, types[name], typ)
				}
			}
			for s, v := range tc.want {
				if got, ok := series[s]; !ok || got != v {
					t.Errorf("%s = %q (present %v), want %s", s, got, ok, v)
				}
			}
			for _, prefix := range tc.absent {
				for s := range series {
					if strings.HasPrefix(s, prefix) {
						t.Errorf("%s present, want none", s)
					}
				}
			}
		})
	}
}

// TestMetricsOwnRegistry: two Metrics count apart (each server and test
// has its own registry, not the global default).
func TestMetricsOwnRegistry(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.Lockout()
	if s, _ := scrape(t, b); s["latchkey_lockouts_total"] != "0" {
		t.Errorf("a lockout on one Metrics shows on another: %s", s["latchkey_lockouts_total"])
	}
	if s, _ := scrape(t, a); s["latchkey_lockouts_total"] != "1" {
		t.Errorf("latchkey_lockouts_total = %s, want 1", s["latchkey_lockouts_total"])
	}
}

// TestNilAndContext: the methods do nothing on a nil *Metrics (a component
// built without metrics), and From finds what With put in a context.
func TestNilAndContext(t *testing.T) {
	var none *metrics.Metrics
	none.SignIn("password", metrics.Success)
	none.TokenIssued("refresh_token")
	none.Lockout()
	none.Mail(metrics.MailSent)
	none.Request("/", http.StatusOK, time.Millisecond)
	none.WatchDB("main", nil)
	if metrics.From(context.Background()) != nil {
		t.Error("From of a bare context is not nil")
	}
	m := metrics.New()
	metrics.From(metrics.With(context.Background(), m)).SignIn("totp", metrics.Failure)
	if s, _ := scrape(t, m); s[`latchkey_sign_ins_total{method="totp",outcome="failure"}`] != "1" {
		t.Error("a sign-in recorded through the context's Metrics is not in its scrape")
	}
}

// noConn is a connector that never connects: a pool's statistics need no
// connection.
type noConn struct{}

func (noConn) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no database") }
func (noConn) Driver() driver.Driver                        { return nil }
