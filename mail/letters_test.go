package mail_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"latchkey/mail"
)

// TestLettersEveryKind: every message renders with the branding name in
// subject or body and footer, the link and code in both parts, and the HTML
// escapes what it shows.
func TestLettersEveryKind(t *testing.T) {
	l, err := mail.NewLetters("Acme <Login>", "#abcdef")
	if err != nil {
		t.Fatal(err)
	}
	v := mail.Vars{Link: "https://idp.example/x?a=1&b=<2>", Code: "ABCD-2345", Expires: "15 minutes", IP: "192.0.2.1",
		When: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), Until: time.Date(2030, 1, 3, 3, 4, 0, 0, time.UTC),
		Title: "A passkey was added", Detail: "The passkey \"YubiKey\" was added."}
	kinds := []mail.Kind{mail.MagicLink, mail.Signup, mail.SignupExisting, mail.Recover, mail.PasswordChanged,
		mail.SecurityNotice, mail.FactorRecoveryRequested, mail.FactorRecoveryCancelled, mail.FactorRecoveryDone, mail.Lockout}
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			m, err := l.Write(k, "alice@example.com", v)
			if err != nil {
				t.Fatal(err)
			}
			if m.To != "alice@example.com" || m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("To %q Subject %q", m.To, m.Subject)
			}
			if !strings.Contains(m.Text, "Acme <Login>") || !strings.Contains(m.HTML, "Acme &lt;Login&gt;") {
				t.Errorf("branding missing or unescaped:\n%s\n%s", m.Text, m.HTML)
			}
			if strings.Contains(m.HTML, "<Login>") || strings.Contains(m.HTML, "<2>") {
				t.Errorf("HTML part carries unescaped text:\n%s", m.HTML)
			}
			if strings.Contains(m.Text, "<no value>") || strings.Contains(m.HTML, "<no value>") {
				t.Errorf("a template field is missing:\n%s", m.Text)
			}
			if strings.Contains(m.Text, v.Link) != strings.Contains(m.HTML, `href="https://idp.example/x?a=1&amp;b=%3c2%3e"`) {
				t.Errorf("link in text = %v but not as a button in HTML:\n%s", strings.Contains(m.Text, v.Link), m.HTML)
			}
			if strings.Contains(m.Text, v.Code) != strings.Contains(m.HTML, ">"+v.Code+"</p>") {
				t.Errorf("code shown differently in text and HTML")
			}
		})
	}
	if _, err := l.Write(mail.Kind("nope"), "a@example.com", v); err == nil {
		t.Error("an unknown kind rendered")
	}
	m, _ := l.Write(mail.MagicLink, "alice@example.com", v)
	for _, want := range []string{v.Link, v.Code, "15 minutes", "192.0.2.1", "alice@example.com"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("magic link text lacks %q:\n%s", want, m.Text)
		}
	}
}

type slowMailer struct {
	mu      sync.Mutex
	release chan struct{}
	sent    []string
}

func (s *slowMailer) Send(ctx context.Context, m mail.Message) error {
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() == nil {
		s.sent = append(s.sent, m.Subject)
	}
	return ctx.Err()
}

// TestBackgroundBounded: Send returns at once (the request never waits on
// the mail server), the request's cancellation does not stop the message,
// and more than Limit messages in flight are dropped and counted.
func TestBackgroundBounded(t *testing.T) {
	slow := &slowMailer{release: make(chan struct{})}
	var cnt counter
	b := &mail.Background{Mailer: slow, Limit: 2, Count: cnt.add}
	ctx, cancel := context.WithCancel(context.Background())
	for i, want := range []error{nil, nil, errors.New("busy")} {
		err := b.Send(ctx, mail.Message{Subject: string(rune('a' + i))})
		if (err == nil) != (want == nil) {
			t.Fatalf("Send %d = %v, want error %v", i, err, want != nil)
		}
	}
	cancel() // the request ended
	close(slow.release)
	b.Wait()
	if len(slow.sent) != 2 || cnt.get(mail.OutcomeFailed) != 1 {
		t.Errorf("sent %v, counts %v; want 2 sent, 1 dropped", slow.sent, cnt.n)
	}
	if err := b.Send(context.Background(), mail.Message{Subject: "after"}); err != nil {
		t.Errorf("a slot was not freed: %v", err)
	}
	b.Wait()
}

type outbox struct{ sent []mail.Message }

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.sent = append(o.sent, m)
	return nil
}

// TestPostmanLockout: the lockout notice names the time the pause ends.
func TestPostmanLockout(t *testing.T) {
	l, err := mail.NewLetters("Acme", "")
	if err != nil {
		t.Fatal(err)
	}
	box := &outbox{}
	p := &mail.Postman{Letters: l, Mailer: box}
	until := time.Date(2030, 5, 6, 7, 8, 0, 0, time.UTC)
	if err := p.Lockout(context.Background(), "a@example.com", until, "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	if len(box.sent) != 1 || !strings.Contains(box.sent[0].Text, "2030-05-06 07:08 UTC") || box.sent[0].To != "a@example.com" ||
		!strings.Contains(box.sent[0].Subject, "paused") {
		t.Fatalf("lockout mail: %+v", box.sent)
	}
}
