package mail

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"text/template"
	"time"
)

//go:embed templates
var files embed.FS

// Kind names one message template (templates/<kind>.txt).
type Kind string

// The messages Latchkey writes.
const (
	MagicLink               Kind = "magic_link"
	Signup                  Kind = "signup"
	SignupExisting          Kind = "signup_existing"
	Recover                 Kind = "recover"
	PasswordChanged         Kind = "password_changed"
	SecurityNotice          Kind = "security_notice" // 2FA on/off, a factor added or removed: Title + Detail
	FactorRecoveryRequested Kind = "factor_recovery_requested"
	FactorRecoveryCancelled Kind = "factor_recovery_cancelled"
	FactorRecoveryDone      Kind = "factor_recovery_done"
	Lockout                 Kind = "lockout"
)

// Vars fill a template; each kind uses the fields it names.
type Vars struct {
	Email   string // the recipient's account
	Link    string // an absolute URL: the button in HTML
	Code    string // an emailed code, shown large in HTML
	Expires string // "15 minutes"
	IP      string // the client the request came from, if known
	When    time.Time
	Until   time.Time
	Title   string // SecurityNotice's subject
	Detail  string // one sentence of specifics
}

// data is what the templates see.
type data struct {
	Vars
	Brand string
	When  string
	Until string
	From  string // " from 192.0.2.1" or ""
}

// Letters writes messages from the embedded templates: a text/template per
// kind gives the subject and the plain-text body; the HTML part is the same
// paragraphs in one html/template layout, so the two never disagree.
type Letters struct {
	Brand string // config branding.name
	Color string // config branding.primary_color, for the HTML button
	text  map[Kind]*template.Template
	html  *htmltemplate.Template
}

// NewLetters parses the embedded templates.
func NewLetters(brand, color string) (*Letters, error) {
	// Each kind's file defines "subject" and "body"; each is parsed alone so
	// the definitions of different kinds do not overwrite each other.
	names, err := fs.Glob(files, "templates/*.txt")
	if err != nil {
		return nil, err
	}
	t := map[Kind]*template.Template{}
	for _, n := range names {
		k := Kind(strings.TrimSuffix(path.Base(n), ".txt"))
		if t[k], err = template.New(string(k)).Option("missingkey=error").ParseFS(files, n); err != nil {
			return nil, fmt.Errorf("mail template %s: %w", k, err)
		}
	}
	h, err := htmltemplate.ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("mail templates: %w", err)
	}
	if color == "" {
		color = "#2151c5"
	}
	return &Letters{Brand: brand, Color: color, text: t, html: h}, nil
}

// Write renders kind for the recipient to.
func (l *Letters) Write(kind Kind, to string, v Vars) (Message, error) {
	t := l.text[kind]
	if t == nil {
		return Message{}, fmt.Errorf("mail: no template %q", kind)
	}
	d := data{Vars: v, Brand: l.Brand}
	if v.Email == "" {
		d.Email = to
	}
	if !v.When.IsZero() {
		d.When = v.When.UTC().Format("2006-01-02 15:04 MST")
	}
	if !v.Until.IsZero() {
		d.Until = v.Until.UTC().Format("2006-01-02 15:04 MST")
	}
	if v.IP != "" {
		d.From = " from " + v.IP
	}
	var subj, body bytes.Buffer
	if err := t.ExecuteTemplate(&subj, "subject", d); err != nil {
		return Message{}, fmt.Errorf("mail template %s: %w", kind, err)
	}
	if err := t.ExecuteTemplate(&body, "body", d); err != nil {
		return Message{}, fmt.Errorf("mail template %s: %w", kind, err)
	}
	text := strings.TrimSpace(body.String()) + "\n\n-- \n" + l.Brand + "\n"
	html, err := l.htmlOf(strings.TrimSpace(subj.String()), to, strings.TrimSpace(body.String()), v)
	if err != nil {
		return Message{}, err
	}
	return Message{To: to, Subject: strings.Join(strings.Fields(subj.String()), " "), Text: text, HTML: html}, nil
}

type block struct{ Kind, Text string }

func (l *Letters) htmlOf(subject, to, body string, v Vars) (string, error) {
	var blocks []block
	for _, p := range strings.Split(body, "\n\n") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
		case v.Link != "" && p == v.Link:
			blocks = append(blocks, block{"link", p})
		case v.Code != "" && p == v.Code:
			blocks = append(blocks, block{"code", p})
		default:
			blocks = append(blocks, block{"p", strings.Join(strings.Fields(p), " ")})
		}
	}
	linkText := "Continue"
	if v.Code != "" {
		linkText = "Open the link"
	}
	var b bytes.Buffer
	err := l.html.ExecuteTemplate(&b, "layout.html", map[string]any{
		"Subject": subject, "Brand": l.Brand, "To": to, "Blocks": blocks,
		"LinkText": linkText, "Color": htmltemplate.CSS(safeColor(l.Color)),
	})
	if err != nil {
		return "", fmt.Errorf("mail layout: %w", err)
	}
	return b.String(), nil
}

// safeColor keeps a #rgb/#rrggbb colour (config validates it); anything else
// falls back to the default, so no CSS can be injected.
func safeColor(c string) string {
	if (len(c) == 4 || len(c) == 7) && c[0] == '#' && strings.Trim(c[1:], "0123456789abcdefABCDEF") == "" {
		return c
	}
	return "#2151c5"
}

// Postman writes and sends in one call; a failure is logged and returned, and
// callers of security notices usually go on (the change is already audited).
type Postman struct {
	Letters *Letters
	Mailer  Mailer
	Log     *slog.Logger
}

// Send writes kind for to and sends it.
func (p *Postman) Send(ctx context.Context, kind Kind, to string, v Vars) error {
	m, err := p.Letters.Write(kind, to, v)
	if err == nil {
		err = p.Mailer.Send(ctx, m)
	}
	if err != nil && p.Log != nil {
		p.Log.ErrorContext(ctx, "mail not sent", "kind", string(kind), "err", err)
	}
	return err
}

// Lockout mails the owner of an account whose guessable factors were just
// locked until until (SPEC: lockout; the user is mailed). ip is the client
// whose failure tripped it, "" if unknown. The hardening work calls this.
func (p *Postman) Lockout(ctx context.Context, email string, until time.Time, ip string) error {
	return p.Send(ctx, Lockout, email, Vars{Until: until, IP: ip, When: time.Now().UTC()})
}
