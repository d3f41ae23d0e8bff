package loadgen

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Browser is one user agent: a cookie jar, and redirects followed except
// to StopAt (the relying party's callback), where the code is read.
type Browser struct {
	HC     *http.Client
	StopAt string
}

// NewBrowser is a browser with an empty jar over tr.
func NewBrowser(tr http.RoundTripper, stopAt string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{StopAt: stopAt, HC: &http.Client{Jar: jar, Transport: tr, Timeout: time.Minute,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if stopAt != "" && strings.HasPrefix(req.URL.String(), stopAt) {
				return http.ErrUseLastResponse
			}
			return nil
		}}}
}

// Page is an HTML answer, or the callback's code.
type Page struct {
	Status int
	URL    *url.URL
	Body   string
	Code   string
}

// Do sends req and reads the answer.
func (b *Browser) Do(req *http.Request) (Page, error) {
	resp, err := b.HC.Do(req)
	if err != nil {
		return Page{}, err
	}
	defer Drain(resp)
	if loc := resp.Header.Get("Location"); b.StopAt != "" && strings.HasPrefix(loc, b.StopAt) {
		u, _ := url.Parse(loc)
		if c := u.Query().Get("code"); c != "" {
			return Page{Status: resp.StatusCode, Code: c}, nil
		}
		return Page{}, fmt.Errorf("callback without a code: %s", loc)
	}
	body, _ := io.ReadAll(resp.Body)
	return Page{Status: resp.StatusCode, URL: resp.Request.URL, Body: string(body)}, nil
}

// Get loads u.
func (b *Browser) Get(u string) (Page, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.Do(req)
}

var (
	formRe  = regexp.MustCompile(`(?s)<form[^>]*>.*?</form>`)
	inputRe = regexp.MustCompile(`<input[^>]*>`)
	attrRe  = func(name string) *regexp.Regexp { return regexp.MustCompile(name + `="([^"]*)"`) }
	nameRe  = attrRe("name")
	valueRe = attrRe("value")
	actRe   = attrRe("action")
)

// Submit posts the form of p holding the button name=value, with extra
// fields.
func (b *Browser) Submit(p Page, name, value string, extra url.Values) (Page, error) {
	for _, f := range formRe.FindAllString(p.Body, -1) {
		if !strings.Contains(f, `name="`+name+`" value="`+value+`"`) {
			continue
		}
		form := url.Values{}
		for _, in := range inputRe.FindAllString(f, -1) {
			if n := nameRe.FindStringSubmatch(in); n != nil {
				v := ""
				if m := valueRe.FindStringSubmatch(in); m != nil {
					v = html.UnescapeString(m[1])
				}
				form.Set(n[1], v)
			}
		}
		for k, v := range extra {
			form[k] = v
		}
		form.Set(name, value)
		action := p.URL.String()
		if m := actRe.FindStringSubmatch(f); m != nil {
			u, err := p.URL.Parse(html.UnescapeString(m[1]))
			if err != nil {
				return Page{}, err
			}
			action = u.String()
		}
		req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return b.Do(req)
	}
	return Page{}, fmt.Errorf("no form with %s=%s at %v (status %d)", name, value, p.URL, p.Status)
}
