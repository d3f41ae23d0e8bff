package mail

import (
	"context"
	"log/slog"
)

// Message is one email: a plain-text body and, optionally, the same content
// as HTML.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Log "sends" by writing the plain-text message to the log, so a developer
// can follow links without a mail server (mail.smtp_url: log).
type Log struct {
	Log  *slog.Logger
	From string
}

// Send implements Mailer.
func (l *Log) Send(ctx context.Context, m Message) error {
	l.Log.InfoContext(ctx, "mail (smtp_url: log)", "from", l.From, "to", m.To, "subject", m.Subject, "body", m.Text)
	return nil
}
