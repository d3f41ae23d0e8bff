package mail

import (
	"io"
	"log/slog"
	"time"
)

// Options are New's injectable parts.
type Options struct {
	Log   *slog.Logger
	Now   func() time.Time
	Rand  io.Reader
	Count func(outcome string) // latchkey_mails_total{outcome}
}

// New returns the mailer smtp_url names: the log mailer for "log", else an
// SMTP sender run in the background (see Background).
func New(smtpURL, from string, o Options) (Mailer, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if smtpURL == "log" {
		return &Log{Log: o.Log, From: from}, nil
	}
	s, err := NewSMTP(smtpURL, from)
	if err != nil {
		return nil, err
	}
	s.Log, s.Now, s.Rand, s.Count = o.Log, o.Now, o.Rand, o.Count
	return &Background{Mailer: s, Limit: 64, Count: o.Count, Log: o.Log}, nil
}
