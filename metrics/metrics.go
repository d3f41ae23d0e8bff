package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of sign-ins.
const (
	Success = "success"
	Failure = "failure"
)

// Outcomes of mails (the mail package's OutcomeSent and OutcomeFailed).
const (
	MailSent   = "sent"
	MailFailed = "failed"
)

// Metrics is one server's set of collectors.
type Metrics struct {
	reg      *prometheus.Registry
	signIns  *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	lockouts prometheus.Counter
	mails    *prometheus.CounterVec
	requests *prometheus.HistogramVec
}

// New registers the collectors, with Go runtime and process metrics, on a
// registry of its own.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_sign_ins_total",
			Help: "Sign-in steps by factor method (password, totp, passkey...) and outcome (success, failure).",
		}, []string{"method", "outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_tokens_issued_total",
			Help: "Successful token endpoint responses by grant type.",
		}, []string{"grant"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_lockouts_total",
			Help: "Accounts locked after too many failures.",
		}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_mails_total",
			Help: "Mails by outcome (sent, failed).",
		}, []string{"outcome"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_request_duration_seconds",
			Help:    "HTTP request latency by route template and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
	}
	m.reg.MustRegister(m.signIns, m.tokens, m.lockouts, m.mails, m.requests,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The outcomes exist from the start, so a rate() over them works before
	// the first failure.
	for _, o := range []string{MailSent, MailFailed} {
		m.mails.WithLabelValues(o)
	}
	m.lockouts.Add(0)
	return m
}

// SignIn counts one sign-in step of method (the factor's name) with outcome
// Success or Failure.
func (m *Metrics) SignIn(method, outcome string) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(method, outcome).Inc()
}

// TokenIssued counts one successful token response of grant type grant.
func (m *Metrics) TokenIssued(grant string) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues(grant).Inc()
}

// Lockout counts an account being locked.
func (m *Metrics) Lockout() {
	if m == nil {
		return
	}
	m.lockouts.Inc()
}

// Mail counts a mail sent (MailSent) or failed (MailFailed).
func (m *Metrics) Mail(outcome string) {
	if m == nil {
		return
	}
	m.mails.WithLabelValues(outcome).Inc()
}

// Request observes one HTTP request's latency.
func (m *Metrics) Request(route string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}

// WatchDB exports db's connection pool statistics as go_sql_* metrics.
// Register each database once; a second registration of the same name is
// ignored (a reload reuses the database).
func (m *Metrics) WatchDB(name string, db *sql.DB) {
	if m == nil || db == nil {
		return
	}
	_ = m.reg.Register(collectors.NewDBStatsCollector(db, name))
}

// Registry is where the collectors live, for tests that gather directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

type ctxKey struct{}

// With returns ctx carrying m.
func With(ctx context.Context, m *Metrics) context.Context {
	return context.WithValue(ctx, ctxKey{}, m)
}

// From returns the Metrics in ctx, or nil (whose methods do nothing).
func From(ctx context.Context) *Metrics {
	m, _ := ctx.Value(ctxKey{}).(*Metrics)
	return m
}
