package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"latchkey/internal/sleep"
)

// Outcomes counted by SMTP.Count (latchkey_mails_total{outcome}).
const (
	OutcomeSent   = "sent"
	OutcomeFailed = "failed"
)

// ErrInsecure is returned when an smtp:// server to a host that is not
// loopback offers no STARTTLS: the message (and any password) would cross
// the network in clear.
var ErrInsecure = errors.New("the SMTP server does not offer STARTTLS; refusing to send in clear to a host that is not loopback")

// SMTP sends through a mail server named by a URL: smtp://[user:pass@]host[:port]
// speaks STARTTLS (required unless the host is loopback), smtps:// implicit
// TLS, and smtp://host?tls=none plain SMTP, to a loopback host only. It holds no connection between messages, so it is safe for concurrent
// use and has nothing to close.
type SMTP struct {
	url      *url.URL
	implicit bool
	plain    bool   // smtp://...?tls=none: no STARTTLS (loopback only)
	host     string // for TLS verification and loopback checks
	addr     string // host:port
	from     *mail.Address
	auth     smtp.Auth

	// Timeout bounds one attempt (dial, TLS, the whole conversation).
	Timeout time.Duration
	// Attempts bounds tries per message; temporary failures (4xx, network)
	// are retried after Backoff, Backoff*4, ...; permanent ones (5xx) not.
	Attempts int
	Backoff  time.Duration
	// Sleep waits between attempts; tests replace it. It returns early with
	// ctx's error.
	Sleep func(ctx context.Context, d time.Duration) error
	// TLS is the base TLS configuration (tests add their root CA here).
	TLS *tls.Config
	// Dial opens the TCP connection; tests point it at their listener.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Count is called once per message with its outcome (a metric hook).
	Count func(outcome string)
	// Now and Rand build Date and Message-ID.
	Now      func() time.Time
	Rand     io.Reader
	Log      *slog.Logger
	HelloFor string // the name sent in EHLO; "localhost" when empty
}

// NewSMTP parses rawURL (already validated by config check) and the From
// address.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("mail.smtp_url: want smtp://[user:pass@]host[:port] or smtps://[user:pass@]host[:port]")
	}
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail.from: %w", err)
	}
	s := &SMTP{url: u, implicit: u.Scheme == "smtps", host: u.Hostname(), from: fromAddr,
		Timeout: 30 * time.Second, Attempts: 3, Backoff: 2 * time.Second}
	switch {
	case u.RawQuery == "":
	case u.RawQuery == "tls=none" && !s.implicit:
		if !isLoopback(s.host) {
			return nil, errors.New("mail.smtp_url: plain SMTP (tls=none) only to a loopback host")
		}
		s.plain = true
	default:
		return nil, errors.New("mail.smtp_url: the only option is ?tls=none (smtp:// to a loopback host)")
	}
	port := u.Port()
	if port == "" {
		port = "587"
		if s.implicit {
			port = "465"
		}
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		pass, _ := u.User.Password()
		// PlainAuth itself refuses to send the password over a connection
		// that is neither TLS nor to localhost.
		s.auth = smtp.PlainAuth("", u.User.Username(), pass, s.host)
	}
	return s, nil
}

// Redacted is the URL without its password, for logs.
func (s *SMTP) Redacted() string { return s.url.Redacted() }

// Send implements Mailer: it composes the message and delivers it, retrying
// temporary failures a bounded number of times.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	raw, err := Compose(s.from, m, s.now(), s.Rand)
	if err != nil {
		s.count(OutcomeFailed)
		return err
	}
	attempts := max(s.Attempts, 1)
	wait := s.Backoff
	for i := 1; ; i++ {
		err = s.deliver(ctx, m.To, raw)
		if err == nil {
			s.count(OutcomeSent)
			return nil
		}
		last := i >= attempts || permanent(err) || ctx.Err() != nil
		s.logger().WarnContext(ctx, "mail delivery failed", "server", s.Redacted(), "subject", m.Subject,
			"attempt", i, "of", attempts, "final", last, "err", err)
		if last {
			s.count(OutcomeFailed)
			return fmt.Errorf("mail to %s: %w", m.To, err)
		}
		if err := s.sleep(ctx, wait); err != nil {
			s.count(OutcomeFailed)
			return fmt.Errorf("mail to %s: %w", m.To, err)
		}
		wait *= 4
	}
}

// deliver runs one SMTP conversation.
func (s *SMTP) deliver(ctx context.Context, to string, raw []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("connect %s: %w", s.addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	// A cancelled context ends the conversation at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tlsCfg := s.tlsConfig()
	if s.implicit {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(s.hello()); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if !s.implicit && !s.plain {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsCfg); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		} else if !isLoopback(s.host) {
			return ErrInsecure
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	if s.Dial != nil {
		return s.Dial(ctx, "tcp", s.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr)
}

func (s *SMTP) tlsConfig() *tls.Config {
	var c *tls.Config
	if s.TLS != nil {
		c = s.TLS.Clone()
	} else {
		c = &tls.Config{}
	}
	c.ServerName = s.host
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	return c
}

// permanent reports an SMTP 5xx answer, which a retry cannot fix; it also
// covers our own refusal to send in clear.
func permanent(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 500
	}
	return errors.Is(err, ErrInsecure)
}

// isLoopback is true for localhost names and loopback IPs: a local relay
// may be spoken to in clear.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackHost is isLoopback for config validation.
func IsLoopbackHost(host string) bool { return isLoopback(host) }

func (s *SMTP) sleep(ctx context.Context, d time.Duration) error {
	if s.Sleep != nil {
		return s.Sleep(ctx, d)
	}
	return sleep.For(ctx, d)
}

func (s *SMTP) count(outcome string) {
	if s.Count != nil {
		s.Count(outcome)
	}
}

func (s *SMTP) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *SMTP) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

func (s *SMTP) hello() string {
	if s.HelloFor != "" {
		return s.HelloFor
	}
	return "localhost"
}

func (s *SMTP) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}
