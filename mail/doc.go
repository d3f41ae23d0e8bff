// Package mail writes and sends the emails Latchkey sends (sign-in links and
// codes, sign-up and password-reset confirmations, security notices).
//
//   - Letters renders a message of a Kind from the embedded templates:
//     templates/<kind>.txt (text/template) gives the subject and the plain
//     text; layout.html (html/template) shows the same paragraphs as HTML,
//     the link as a button and the code large. Both carry branding.name.
//   - Mailer is what the rest of the server consumes. SMTP speaks to the
//     server mail.smtp_url names: STARTTLS required on smtp:// (except to a
//     loopback host), implicit TLS on smtps://, plain only with ?tls=none to
//     a loopback host; PLAIN auth from the URL; a timeout per attempt and a
//     bounded retry of temporary failures, each logged, the outcome counted
//     (Count: latchkey_mails_total{outcome}). Compose adds Date and a
//     Message-ID.
//   - Background hands each message to a goroutine, bounded, so a request
//     never waits on the mail server: its timing does not reveal whether a
//     mail went out, and no database transaction is held open by SMTP.
//     Callers send after their transaction commits.
//   - Log prints messages to the server log (mail.smtp_url: log), the
//     development default.
package mail
