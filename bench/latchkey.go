package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"latchkey/internal/loadgen"
)

const (
	shopSecret    = "bench-shop-secret-bench-shop-secret-42"
	machineSecret = "bench-machine-secret-bench-machine-42"
	callbackURL   = "http://127.0.0.1:9/cb"
	userPassword  = "a benchmark user's long password"
)

// instance is a running Latchkey child process.
type instance struct {
	*loadgen.Process
	IdleKiB int64
	email   string
	hc      *http.Client
}

func (s *instance) pid() int { return s.Pid() }

func (s *instance) stop() { s.Stop() }

// start writes a config, adds the user through the CLI, runs `latchkey
// serve` and times exec to ready. With an existing database (the second
// start of one directory) the ready time is the one the targets name.
func start(bin, dir, dsn, alg, email string, conc int, addUser bool) (*instance, error) {
	addr, err := loadgen.FreeAddr()
	if err != nil {
		return nil, err
	}
	baseURL := "http://" + addr
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
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
`, baseURL, addr, dsn, alg, shopSecret, callbackURL, machineSecret)
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
	proc, err := loadgen.Serve(bin, baseURL, env)
	if err != nil {
		return nil, err
	}
	s := &instance{Process: proc, email: email, hc: loadgen.NewHTTPClient(conc)}
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

// browser is one user agent (see loadgen.Browser), stopping at the
// relying party's callback.
type browser struct{ *loadgen.Browser }

type page = loadgen.Page

func (s *instance) browser() *browser {
	return &browser{loadgen.NewBrowser(s.hc.Transport, callbackURL)}
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

func (b *browser) get(u string) (page, error) { return b.Get(u) }

func (b *browser) submit(p page, name, value string, extra url.Values) (page, error) {
	return b.Submit(p, name, value, extra)
}

// loginPage opens an authorization request in a fresh browser: the login
// form of a new flow.
func (s *instance) loginPage() (*browser, page, authStart, error) {
	b := s.browser()
	a := s.authURL()
	p, err := b.get(a.URL)
	if err == nil && p.Code != "" {
		err = errors.New("a fresh browser got a code without signing in")
	}
	return b, p, a, err
}

// signIn posts the password on a login page and follows to the callback.
func (b *browser) signIn(p page, email string) (page, error) {
	p, err := b.submit(p, "method", "password", url.Values{"identifier": {email}, "password": {userPassword}})
	if err != nil || p.Code != "" {
		return p, err
	}
	if p.Status >= 300 {
		return p, fmt.Errorf("login answered %d", p.Status)
	}
	// A page after the password (a passkey suggestion, consent): go on.
	for _, btn := range [][2]string{{"decision", "allow"}, {"action", "later"}, {"action", "skip"}} {
		if q, err := b.submit(p, btn[0], btn[1], nil); err == nil {
			return q, nil
		}
	}
	return p, fmt.Errorf("no code after login: %v %d\n%.600s", p.URL, p.Status, p.Body)
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
