package e2e

import (
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/logging"
	"latchkey/server"
)

// logCapture keeps a server's JSON log lines and tells a waiter of each.
type logCapture struct {
	buf   testkit.Buffer
	added chan struct{}
}

func (c *logCapture) Write(p []byte) (int, error) {
	n, err := c.buf.Write(p)
	select {
	case c.added <- struct{}{}:
	default:
	}
	return n, err
}

// lines are the logged records whose msg is msg.
func (c *logCapture) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(c.buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// wait returns the first record with msg, waiting up to 10 s for a
// background sender to log it.
func (c *logCapture) wait(t *testing.T, msg string) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if ls := c.lines(msg); len(ls) > 0 {
			return ls[0]
		}
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("no log line %q within 10 s", msg)
		}
	}
}

// refusingSMTP is a real SMTP server that refuses every recipient (550),
// for a mail that fails on its way.
func refusingSMTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return refusing{}, nil }))
	srv.Domain = "refusing.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "smtp://" + ln.Addr().String() + "?tls=none"
}

type refusing struct{}

func (refusing) Reset()                               {}
func (refusing) Logout() error                        { return nil }
func (refusing) Mail(string, *smtp.MailOptions) error { return nil }
func (refusing) Data(io.Reader) error                 { return nil }
func (refusing) Rcpt(string, *smtp.RcptOptions) error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
}

// TestLogLinesCarryRequestID: the lines a request causes carry the ID the
// response's X-Request-Id names, as a top-level request_id (SPEC,
// Operations), with the production log handler: a wrong password's
// "sign-in failed", a refused passkey's "passkey refused", and the
// delivery failure of the mail a magic-link request sends in the
// background after the response.
func TestLogLinesCarryRequestID(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		capture := &logCapture{added: make(chan struct{}, 1)}
		_, prod, err := logging.New(capture, "debug", "json")
		if err != nil {
			t.Fatal(err)
		}
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{
			Server: server.Options{Log: slog.New(slog.NewMultiHandler(prod.Handler(), testkit.LogToSink()))},
			Configure: func(cfg *config.Config) {
				standardClients(cfg)
				cfg.Mail.SMTPURL = refusingSMTP(t)
			},
		})
		const email, pw = "rita@example.com", "rita's long password"
		srv.AddUser(t, email, pw)

		wantID := func(what string, rec map[string]any, p *testkit.Page) {
			t.Helper()
			id := p.Header.Get("X-Request-Id")
			if id == "" {
				t.Fatalf("%s: no X-Request-Id", what)
			}
			if rec["request_id"] != id {
				t.Errorf("%s: the line %v has request_id %v, want the response's X-Request-Id %q", what, rec["msg"], rec["request_id"], id)
			}
		}

		// A wrong password.
		b := testkit.NewBrowser(t)
		page := b.Get(srv.URL + "/login")
		p := b.Submit(page.FormWithButton(t, "method", "password").Set("identifier", email).Set("password", "not rita's password"))
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", p.Status)
		}
		wantID("wrong password", capture.wait(t, "sign-in failed"), p)

		// A passkey assertion the factor cannot parse.
		form := b.Get(srv.URL+"/login").FormWithButton(t, "method", "passkey")
		action, _ := url.Parse(form.Action)
		var options json.RawMessage
		pkJSON(t, b.Post(srv.URL+"/login/passkey/options?flow="+url.QueryEscape(action.Query().Get("flow")),
			url.Values{"csrf_token": {form.Fields.Get("csrf_token")}}), http.StatusOK, &options)
		p = b.Submit(form.Set("credential", `{"id":"bogus"}`))
		if p.Status != http.StatusUnauthorized {
			t.Fatalf("bogus passkey: %d", p.Status)
		}
		wantID("refused passkey", capture.wait(t, "passkey refused"), p)

		// A magic link whose mail the server refuses: the POST's answer
		// (a redirect, not followed) names the request.
		page = b.Get(srv.URL + "/login")
		b.StopAt = []string{srv.URL + "/login?flow="}
		p = b.Submit(page.FormWithButton(t, "method", "magic_link").Set("identifier", email))
		if p.Status != http.StatusSeeOther {
			t.Fatalf("magic link request: %d, want 303", p.Status)
		}
		wantID("refused mail", capture.wait(t, "mail delivery failed"), p)
	})
}
