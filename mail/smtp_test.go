package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"latchkey/mail"
)

// testCert makes a CA-less self-signed certificate for the given names and
// returns it with a pool that trusts it.
func testCert(t *testing.T, names ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// received is one message as the test server saw it.
type received struct {
	from, to string
	data     []byte
	tls      bool
	user     string
}

// sink is a go-smtp backend that records messages and can be told to
// refuse the next DATA commands.
type sink struct {
	mu       sync.Mutex
	msgs     []received
	conns    map[string]bool // remote addresses: one per connection, whatever STARTTLS restarts
	failData []error         // answers to the next DATA commands, nil = accept
	user     string          // required AUTH PLAIN user ("" = no AUTH offered)
	pass     string
}

func (s *sink) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[string]bool{}
	}
	s.conns[c.Conn().RemoteAddr().String()] = true
	s.mu.Unlock()
	_, isTLS := c.TLSConnectionState()
	return &sinkSession{sink: s, cur: received{tls: isTLS}}, nil
}

func (s *sink) got() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

type sinkSession struct {
	sink *sink
	cur  received
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.sink.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.sink.user || pass != ss.sink.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		ss.cur.user = user
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.sink.user != "" && ss.cur.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.cur.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error { ss.cur.to = to; return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.mu.Lock()
	defer ss.sink.mu.Unlock()
	if len(ss.sink.failData) > 0 {
		e := ss.sink.failData[0]
		ss.sink.failData = ss.sink.failData[1:]
		if e != nil {
			return e
		}
	}
	ss.cur.data = b
	ss.sink.msgs = append(ss.sink.msgs, ss.cur)
	return nil
}
func (ss *sinkSession) Reset()        {}
func (ss *sinkSession) Logout() error { return nil }

// mode is how the test server speaks.
type mode int

const (
	plainOnly mode = iota // no TLS at all
	startTLS              // offers STARTTLS
	implicit              // TLS from the first byte (smtps)
)

// serve starts a go-smtp server on a random loopback port.
func serve(t *testing.T, s *sink, m mode, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(s)
	srv.Domain = "mail.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	switch m {
	case startTLS:
		srv.TLSConfig = tc
	case implicit:
		ln = tls.NewListener(ln, tc)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) add(o string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[o]++
}

func (c *counter) get(o string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[o]
}

// sender builds an SMTP sender for rawURL whose connections go to addr
// (so a URL may name a non-loopback host like mail.test).
func sender(t *testing.T, rawURL, addr string, roots *x509.CertPool, cnt *counter, sleeps *[]time.Duration) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(rawURL, "Latchkey <no-reply@idp.example>")
	if err != nil {
		t.Fatal(err)
	}
	s.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	s.TLS = &tls.Config{RootCAs: roots}
	s.Timeout = 10 * time.Second
	s.Backoff = time.Second
	s.Count = cnt.add
	s.Sleep = func(_ context.Context, d time.Duration) error { *sleeps = append(*sleeps, d); return nil }
	s.Now = func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }
	return s
}

func letter(t *testing.T) mail.Message {
	t.Helper()
	l, err := mail.NewLetters("Acme Login", "#123456")
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Write(mail.MagicLink, "alice@example.com", mail.Vars{
		Link: "https://idp.example/login/magic?t=abc&x=<1>", Code: "KQ7M-29XD", Expires: "15 minutes", IP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSMTPConversation runs real SMTP conversations against go-smtp: the
// message arrives intact over STARTTLS and over implicit TLS with AUTH from
// the URL, and every insecure or broken path fails without delivering.
func TestSMTPConversation(t *testing.T) {
	cert, roots := testCert(t, "mail.test")
	_, otherRoots := testCert(t, "mail.test")
	tempFail := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	permFail := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}

	tests := []struct {
		name       string
		mode       mode
		url        string // HOST is replaced by the listener address
		roots      *x509.CertPool
		user, pass string
		failData   []error
		wantErr    string
		wantTLS    bool
		sessions   int // connections the server saw (attempts that reached it); 0: not checked
		sleeps     int
	}{
		{"STARTTLS with auth", startTLS, "smtp://bob:s3cr%40t@mail.test:2525", roots, "bob", "s3cr@t", nil, "", true, 1, 0},
		{"implicit TLS (smtps) with auth", implicit, "smtps://bob:pw@mail.test", roots, "bob", "pw", nil, "", true, 1, 0},
		{"plain to loopback is allowed", plainOnly, "smtp://127.0.0.1:2525", roots, "", "", nil, "", false, 1, 0},
		{"tls=none to loopback stays plain", startTLS, "smtp://localhost:2525?tls=none", roots, "", "", nil, "", false, 1, 0},
		{"no STARTTLS to a remote host is refused", plainOnly, "smtp://mail.test:2525", roots, "", "", nil, "does not offer STARTTLS", false, 1, 0},
		{"untrusted certificate (STARTTLS)", startTLS, "smtp://mail.test:2525", otherRoots, "", "", nil, "certificate", false, 0, 2},
		{"untrusted certificate (smtps)", implicit, "smtps://mail.test", otherRoots, "", "", nil, "certificate", false, 0, 2},
		{"wrong password", startTLS, "smtp://bob:nope@mail.test", roots, "bob", "pw", nil, "535", false, 1, 0},
		{"temporary failure is retried", startTLS, "smtp://mail.test", roots, "", "", []error{tempFail}, "", true, 2, 1},
		{"temporary failures give up after 3 attempts", startTLS, "smtp://mail.test", roots, "", "", []error{tempFail, tempFail, tempFail}, "451", false, 3, 2},
		{"permanent failure is not retried", startTLS, "smtp://mail.test", roots, "", "", []error{permFail}, "550", false, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sk := &sink{user: tc.user, pass: tc.pass, failData: tc.failData}
			addr := serve(t, sk, tc.mode, cert)
			var cnt counter
			var sleeps []time.Duration
			s := sender(t, tc.url, addr, tc.roots, &cnt, &sleeps)
			m := letter(t)
			err := s.Send(t.Context(), m)

			if len(sleeps) != tc.sleeps {
				t.Errorf("slept %d times (%v), want %d", len(sleeps), sleeps, tc.sleeps)
			}
			if len(sleeps) == 2 && sleeps[1] != 4*sleeps[0] {
				t.Errorf("backoff %v, want growing by 4", sleeps)
			}
			sk.mu.Lock()
			sessions := len(sk.conns)
			sk.mu.Unlock()
			if tc.sessions != 0 && sessions != tc.sessions {
				t.Errorf("server saw %d sessions, want %d", sessions, tc.sessions)
			}
			got := sk.got()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Send error = %v, want one containing %q", err, tc.wantErr)
				}
				if len(got) != 0 {
					t.Errorf("a message was delivered despite the error")
				}
				if cnt.get(mail.OutcomeFailed) != 1 || cnt.get(mail.OutcomeSent) != 0 {
					t.Errorf("counted %v, want one failed", cnt.n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			if cnt.get(mail.OutcomeSent) != 1 || cnt.get(mail.OutcomeFailed) != 0 {
				t.Errorf("counted %v, want one sent", cnt.n)
			}
			r := got[0]
			if r.tls != tc.wantTLS {
				t.Errorf("message went over TLS = %v, want %v", r.tls, tc.wantTLS)
			}
			if r.user != tc.user {
				t.Errorf("authenticated as %q, want %q", r.user, tc.user)
			}
			if r.from != "no-reply@idp.example" || r.to != "alice@example.com" {
				t.Errorf("envelope %s -> %s", r.from, r.to)
			}
			checkMessage(t, r.data, m)
		})
	}
}

// checkMessage parses what the server received: headers, and both parts
// decoded back to what was sent.
func checkMessage(t *testing.T, raw []byte, want mail.Message) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, raw)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subj, _ := dec.DecodeHeader(h.Get("Subject"))
	if subj != "Your sign-in link for Acme Login" || subj != want.Subject {
		t.Errorf("Subject %q", subj)
	}
	if d, err := h.Date(); err != nil || !d.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@idp.example>") || len(id) < 30 {
		t.Errorf("Message-ID %q", id)
	}
	if f, err := h.AddressList("From"); err != nil || len(f) != 1 || f[0].Address != "no-reply@idp.example" || f[0].Name != "Latchkey" {
		t.Errorf("From %q", h.Get("From"))
	}
	mediatype, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediatype != "multipart/alternative" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = strings.ReplaceAll(string(b), "\r\n", "\n")
	}
	if parts["text/plain"] != want.Text {
		t.Errorf("text part differs:\n%q\nwant\n%q", parts["text/plain"], want.Text)
	}
	if parts["text/html"] != want.HTML {
		t.Errorf("html part differs")
	}
}

// TestSMTPURLs: what NewSMTP refuses before any connection.
func TestSMTPURLs(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"smtp://u:p@mail.example.com:587", true},
		{"smtps://mail.example.com", true},
		{"smtp://127.0.0.1:1025?tls=none", true},
		{"smtp://mail.example.com?tls=none", false},
		{"smtps://localhost?tls=none", false},
		{"smtp://localhost?tls=off", false},
		{"http://mail.example.com", false},
		{"smtp://", false},
	} {
		_, err := mail.NewSMTP(tc.url, "a@example.com")
		if (err == nil) != tc.ok {
			t.Errorf("NewSMTP(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

// TestSMTPTimeout: a server that accepts the connection and never greets
// is given up after the timeout, not waited on for ever.
func TestSMTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	var cnt counter
	var sleeps []time.Duration
	s := sender(t, "smtp://127.0.0.1:25", ln.Addr().String(), nil, &cnt, &sleeps)
	s.Timeout = 300 * time.Millisecond
	s.Attempts = 2
	err = s.Send(t.Context(), mail.Message{To: "a@example.com", Subject: "x", Text: "y"})
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Send = %v, want a timeout", err)
	}
	if len(sleeps) != 1 || cnt.get(mail.OutcomeFailed) != 1 {
		t.Errorf("sleeps %v, counts %v; want one retry and one failure", sleeps, cnt.n)
	}
}

// TestComposeRefusesHeaderInjection: a subject or recipient that would add
// headers is refused before anything is sent.
func TestComposeRefusesHeaderInjection(t *testing.T) {
	from := &netmail.Address{Name: "L", Address: "l@example.com"}
	for _, m := range []mail.Message{
		{To: "a@example.com", Subject: "hi\r\nBcc: evil@example.com", Text: "x"},
		{To: "a@example.com\r\nBcc: evil@example.com", Subject: "hi", Text: "x"},
	} {
		if raw, err := mail.Compose(from, m, time.Now(), nil); err == nil {
			t.Errorf("Compose accepted %q / %q:\n%s", m.To, m.Subject, raw)
		}
	}
}
