package e2e

import (
	"bytes"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// inbox is a real SMTP server (go-smtp) the test server sends to over
// loopback; the tests read the mails it received, as a user would.
type inbox struct {
	mu    sync.Mutex
	mails []inMail
	added chan struct{}
	URL   string // the mail.smtp_url to configure
}

// inMail is one received message, decoded.
type inMail struct {
	To, Subject, Text, HTML string
}

func newInbox(t *testing.T) *inbox {
	t.Helper()
	in := &inbox{added: make(chan struct{}, 100)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &inboxSession{in: in}, nil }))
	srv.Domain = "inbox.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// Plain SMTP is allowed to a loopback host only (tls=none).
	in.URL = "smtp://" + ln.Addr().String() + "?tls=none"
	return in
}

type inboxSession struct {
	in *inbox
	to string
}

func (s *inboxSession) Reset()                                    {}
func (s *inboxSession) Logout() error                             { return nil }
func (s *inboxSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *inboxSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *inboxSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decodeMail(raw)
	if err != nil {
		return err
	}
	s.in.mu.Lock()
	s.in.mails = append(s.in.mails, m)
	s.in.mu.Unlock()
	s.in.added <- struct{}{}
	return nil
}

func decodeMail(raw []byte) (inMail, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return inMail{}, err
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	out := inMail{To: msg.Header.Get("To"), Subject: subj}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return out, err
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		out.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
		return out, err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			out.HTML = string(b)
		} else {
			out.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
		}
	}
	return out, nil
}

// wait returns the first mail to `to` whose subject contains subject,
// waiting up to 10 s for the server's background sender.
func (in *inbox) wait(t *testing.T, to, subject string) inMail {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		in.mu.Lock()
		for i, m := range in.mails {
			if strings.Contains(m.To, to) && strings.Contains(m.Subject, subject) {
				in.mails = append(in.mails[:i:i], in.mails[i+1:]...)
				in.mu.Unlock()
				return m
			}
		}
		in.mu.Unlock()
		select {
		case <-in.added:
		case <-deadline:
			t.Fatalf("no mail to %s with subject %q arrived within 10 s", to, subject)
		}
	}
}

// none checks that no mail to `to` whose subject contains subject ("" for
// any) arrived.
func (in *inbox) none(t *testing.T, to, subject string) {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range in.mails {
		if strings.Contains(m.To, to) && strings.Contains(m.Subject, subject) {
			t.Errorf("unexpected mail to %s: %q", to, m.Subject)
		}
	}
}

var (
	mailLink = regexp.MustCompile(`https?://\S+[?&]t=[A-Za-z0-9_-]+`)
	mailCode = regexp.MustCompile(`(?m)^([2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4})$`)
)

// linkAndCode reads the link and the code from a mail's text.
func linkAndCode(t *testing.T, m inMail) (string, string) {
	t.Helper()
	link := mailLink.FindString(m.Text)
	code := mailCode.FindStringSubmatch(m.Text)
	if link == "" || code == nil {
		t.Fatalf("mail %q lacks a link or a code:\n%s", m.Subject, m.Text)
	}
	return link, code[1]
}
