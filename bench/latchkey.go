package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const (
	shopSecret    = "bench-shop-secret-bench-shop-secret-42"
	machineSecret = "bench-machine-secret-bench-machine-42"
	callbackURL   = "http://127.0.0.1:9/cb"
	userPassword  = "a benchmark user's long password"
)

// instance is a running Latchkey child process.
type instance struct {
	URL     string
	cmd     *exec.Cmd
	Ready   time.Duration // exec to the first 200 from /healthz
	IdleKiB int64
	email   string
	hc      *http.Client
	logs    bytes.Buffer
}

func (s *instance) pid() int { return s.cmd.Process.Pid }

func (s *instance) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// start writes a config, adds the user through the CLI, runs `latchkey
// serve` and times exec to ready. With an existing database (the second
// start of one directory) the ready time is the one the targets name.
func start(bin, dir, dsn, alg, email string, conc int, addUser bool) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &instance{URL: fmt.Sprintf("http://127.0.0.1:%d", port), email: email, hc: newHTTPClient(conc)}
	cfg := fmt.Sprintf(`issuer: %s
listen: 127.0.0.1:%d
database:
  dsn: "%s"
secrets:
  keys: [ "bench-secret-bench-secret-bench-secret-0123" ]
signing:
  alg: %s
log:
  level: error
# The wrong-password run measures hashing, not the per-IP throttle, which
# would otherwise answer 429 to every later sign-in from this one address
# (the IP limit is 5 × max_failures; the bench sends at most a few hundred).
lockout:
  max_failures: 1000
clients:
  - id: shop
    name: Shop
    secret: "%s"
    redirect_uris: [ "%s" ]
    scopes: [ openid, email, offline_access ]
    grant_types: [ authorization_code, refresh_token ]
    skip_consent: true
  - id: machine
    name: Machine
    secret: "%s"
    scopes: [ openid ]
    grant_types: [ client_credentials ]
`, s.URL, port, dsn, alg, shopSecret, callbackURL, machineSecret)
	path := filepath.Join(dir, "latchkey.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "LATCHKEY_CONFIG="+path)
	if addUser {
		add := exec.Command(bin, "user", "add", email, "--password-stdin", "--verified")
		add.Env, add.Stdin = env, strings.NewReader(userPassword+"\n")
		if out, err := add.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("user add: %v\n%s", err, out)
		}
	}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = env, &s.logs, &s.logs
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	probe := &http.Client{Timeout: time.Second}
	for {
		resp, err := probe.Get(s.URL + "/healthz")
		if err == nil {
			drain(resp)
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(t0) > 30*time.Second {
			s.stop()
			return nil, fmt.Errorf("server not ready after 30 s:\n%s", s.logs.String())
		}
		time.Sleep(500 * time.Microsecond)
	}
	s.Ready = time.Since(t0)
	time.Sleep(200 * time.Millisecond)
	s.IdleKiB = procKiB(s.pid(), "VmRSS")
	return s, nil
}

func (s *instance) post(path string, form url.Values, user, pass string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return s.hc.Do(req)
}

func (s *instance) tokenJSON(form url.Values, user, pass string) (int, map[string]any, error) {
	resp, err := s.post("/oauth2/token", form, user, pass)
	if err != nil {
		return 0, nil, err
	}
	defer drain(resp)
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, nil
}

// browser is one user agent: a cookie jar and the redirect rule that stops
// at the relying party's callback.
type browser struct {
	s  *instance
	hc *http.Client
}

func (s *instance) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, hc: &http.Client{Jar: jar, Transport: s.hc.Transport, Timeout: time.Minute,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), callbackURL) {
				return http.ErrUseLastResponse
			}
			return nil
		}}}
}

// authStart is an authorization request and its PKCE verifier.
type authStart struct{ URL, Verifier string }

func (s *instance) authURL() authStart {
	v := randomString(64)
	sum := sha256.Sum256([]byte(v))
	q := url.Values{"response_type": {"code"}, "client_id": {"shop"}, "redirect_uri": {callbackURL},
		"scope": {"openid email offline_access"}, "state": {randomString(12)}, "nonce": {randomString(12)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	return authStart{URL: s.URL + "/oauth2/auth?" + q.Encode(), Verifier: v}
}

// page is an HTML answer, or the callback's code.
type page struct {
	status int
	url    *url.URL
	body   string
	code   string
}

func (b *browser) do(req *http.Request) (page, error) {
	resp, err := b.hc.Do(req)
	if err != nil {
		return page{}, err
	}
	defer drain(resp)
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, callbackURL) {
		u, _ := url.Parse(loc)
		if c := u.Query().Get("code"); c != "" {
			return page{status: resp.StatusCode, code: c}, nil
		}
		return page{}, fmt.Errorf("callback without a code: %s", loc)
	}
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, url: resp.Request.URL, body: string(body)}, nil
}

func (b *browser) get(u string) (page, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

var (
	formRe  = regexp.MustCompile(`(?s)<form[^>]*>.*?</form>`)
	inputRe = regexp.MustCompile(`<input[^>]*>`)
	attrRe  = func(name string) *regexp.Regexp { return regexp.MustCompile(name + `="([^"]*)"`) }
	nameRe  = attrRe("name")
	valueRe = attrRe("value")
	actRe   = attrRe("action")
)

// submit posts the form holding the button name=value, with extra fields.
func (b *browser) submit(p page, name, value string, extra url.Values) (page, error) {
	for _, f := range formRe.FindAllString(p.body, -1) {
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
		action := p.url.String()
		if m := actRe.FindStringSubmatch(f); m != nil {
			u, err := p.url.Parse(html.UnescapeString(m[1]))
			if err != nil {
				return page{}, err
			}
			action = u.String()
		}
		req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return b.do(req)
	}
	return page{}, fmt.Errorf("no form with %s=%s at %v (status %d)", name, value, p.url, p.status)
}

// loginPage opens an authorization request in a fresh browser: the login
// form of a new flow.
func (s *instance) loginPage() (*browser, page, authStart, error) {
	b := s.browser()
	a := s.authURL()
	p, err := b.get(a.URL)
	if err == nil && p.code != "" {
		err = errors.New("a fresh browser got a code without signing in")
	}
	return b, p, a, err
}

// signIn posts the password on a login page and follows to the callback.
func (b *browser) signIn(p page, email string) (page, error) {
	p, err := b.submit(p, "method", "password", url.Values{"identifier": {email}, "password": {userPassword}})
	if err != nil || p.code != "" {
		return p, err
	}
	if p.status >= 300 {
		return p, fmt.Errorf("login answered %d", p.status)
	}
	// A page after the password (a passkey suggestion, consent): go on.
	for _, btn := range [][2]string{{"decision", "allow"}, {"action", "later"}, {"action", "skip"}} {
		if q, err := b.submit(p, btn[0], btn[1], nil); err == nil {
			return q, nil
		}
	}
	return p, fmt.Errorf("no code after login: %v %d\n%.600s", p.url, p.status, p.body)
}

func (s *instance) exchange(code, verifier string) (int, map[string]any, error) {
	return s.tokenJSON(url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {callbackURL}, "code_verifier": {verifier}}, "shop", shopSecret)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
