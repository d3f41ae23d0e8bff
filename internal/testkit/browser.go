package testkit

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Browser keeps cookies and follows redirects like a person's browser,
// except to the URLs in StopAt (relying-party callbacks), where it stops so
// the test can read the code.
type Browser struct {
	t      testing.TB
	Client *http.Client
	StopAt []string
}

// NewBrowser returns a browser with an empty cookie jar.
func NewBrowser(t testing.TB, stopAt ...string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{t: t, StopAt: stopAt}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > 20 {
			return http.ErrUseLastResponse
		}
		for _, p := range b.StopAt {
			if strings.HasPrefix(req.URL.String(), p) {
				return http.ErrUseLastResponse
			}
		}
		return nil
	}}
	return b
}

// Page is a response as the browser saw it.
type Page struct {
	URL      *url.URL
	Status   int
	Body     string
	Location string // set when the browser stopped at a StopAt redirect
	Doc      *html.Node
	Header   http.Header
}

// Get loads a URL.
func (b *Browser) Get(rawURL string) *Page {
	b.t.Helper()
	resp, err := b.Client.Get(rawURL)
	if err != nil {
		b.t.Fatalf("GET %s: %v", rawURL, err)
	}
	return b.read(resp)
}

// Post submits form values to a URL.
func (b *Browser) Post(rawURL string, form url.Values) *Page {
	b.t.Helper()
	resp, err := b.Client.PostForm(rawURL, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", rawURL, err)
	}
	return b.read(resp)
}

func (b *Browser) read(resp *http.Response) *Page {
	b.t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read %s: %v", resp.Request.URL, err)
	}
	p := &Page{URL: resp.Request.URL, Status: resp.StatusCode, Body: string(body), Header: resp.Header,
		Location: resp.Header.Get("Location")}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		doc, err := html.Parse(bytes.NewReader(body))
		if err != nil {
			b.t.Fatalf("parse %s: %v", p.URL, err)
		}
		p.Doc = doc
	}
	return p
}

// Cookie returns the value of a cookie the browser holds for rawURL.
func (b *Browser) Cookie(rawURL, name string) string {
	u, _ := url.Parse(rawURL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// Form is a form found on a page, with the values a browser would send.
type Form struct {
	Action string
	Fields url.Values
	button [2]string
}

// Set fills a field.
func (f *Form) Set(name, value string) *Form {
	f.Fields.Set(name, value)
	return f
}

// Check ticks a checkbox: its value is sent.
func (f *Form) Check(name string) *Form {
	f.Fields.Set(name, "1")
	return f
}

// Submit posts the form as if its button was pressed.
func (b *Browser) Submit(f *Form) *Page {
	b.t.Helper()
	v := url.Values{}
	for k, vs := range f.Fields {
		v[k] = append([]string(nil), vs...)
	}
	if f.button[0] != "" {
		v.Set(f.button[0], f.button[1])
	}
	return b.Post(f.Action, v)
}

// FormWithButton finds the form holding <button type=submit name=N value=V>.
func (p *Page) FormWithButton(t testing.TB, name, value string) *Form {
	t.Helper()
	var found *html.Node
	walk(p.Doc, func(n *html.Node) bool {
		if n.Type == html.ElementNode && n.Data == "button" && attr(n, "name") == name && attr(n, "value") == value &&
			attr(n, "type") == "submit" {
			for a := n.Parent; a != nil; a = a.Parent {
				if a.Type == html.ElementNode && a.Data == "form" {
					found = a
					return false
				}
			}
		}
		return true
	})
	if found == nil {
		t.Fatalf("no form with button %s=%s on %s (status %d):\n%s", name, value, p.URL, p.Status, excerpt(p.Body))
	}
	action, err := p.URL.Parse(attr(found, "action"))
	if err != nil {
		t.Fatalf("form action: %v", err)
	}
	f := &Form{Action: action.String(), Fields: url.Values{}, button: [2]string{name, value}}
	walk(found, func(n *html.Node) bool {
		if n.Type == html.ElementNode && (n.Data == "input" || n.Data == "textarea" || n.Data == "select") {
			typ := attr(n, "type")
			// An unticked checkbox or radio sends nothing, as in a browser.
			unticked := (typ == "checkbox" || typ == "radio") && !hasAttr(n, "checked")
			if nm := attr(n, "name"); nm != "" && typ != "submit" && !unticked {
				f.Fields.Add(nm, attr(n, "value"))
			}
		}
		return true
	})
	return f
}

// Find returns the first element named tag whose attributes include all
// of attrs, or nil.
func (p *Page) Find(tag string, attrs map[string]string) *html.Node {
	var found *html.Node
	walk(p.Doc, func(n *html.Node) bool {
		if n.Type != html.ElementNode || n.Data != tag {
			return true
		}
		for k, v := range attrs {
			if !hasAttr(n, k) || attr(n, k) != v {
				return true
			}
		}
		found = n
		return false
	})
	return found
}

// Text is the text content of the element with that id, or "".
func (p *Page) Text(id string) string {
	var out string
	walk(p.Doc, func(n *html.Node) bool {
		if n.Type == html.ElementNode && attr(n, "id") == id {
			out = textOf(n)
			return false
		}
		return true
	})
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) bool {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
		return true
	})
	return strings.TrimSpace(b.String())
}

func walk(n *html.Node, fn func(*html.Node) bool) bool {
	if n == nil {
		return true
	}
	if !fn(n) {
		return false
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if !walk(c, fn) {
			return false
		}
	}
	return true
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func excerpt(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}
