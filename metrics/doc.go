// Package metrics owns Latchkey's Prometheus metrics. A *Metrics holds its own
// registry (not the global default), so every server and every test has its
// own counters, and a configuration reload keeps them: the binary makes one
// Metrics and hands it to each server it builds.
//
// Record events through the methods; they are safe on a nil *Metrics, so a
// component built without metrics (a unit test) needs no guard:
//
//	m.SignIn("password", metrics.Failure)
//	m.TokenIssued("authorization_code")
//	m.Lockout()
//	m.Mail(metrics.MailSent)
//
// Inside a request the server's Metrics is also in the context, for code that
// has no field for it: metrics.From(r.Context()).Lockout().
package metrics
