package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/login/passkey/passkeytest"
)

// --- software authenticator over plain HTTP ---------------------------

// pkRegisterHTTP adds a passkey from /account/passkeys the way the page's
// script does: begin, the authenticator, finish. b must be signed in.
func pkRegisterHTTP(t *testing.T, srv *testkit.Server, b *testkit.Browser, a *passkeytest.Authenticator, name string) {
	t.Helper()
	page := b.Get(srv.URL + "/account/passkeys")
	btn := page.Find("button", map[string]string{"id": "passkey-register", "type": "button"})
	if btn == nil {
		t.Fatalf("/account/passkeys has no <button type=button id=passkey-register> (status %d at %s)", page.Status, page.URL)
	}
	csrf := pkAttr(btn, "data-csrf")
	var begin struct {
		Flow      string          `json:"flow"`
		PublicKey json.RawMessage `json:"publicKey"`
		Error     string          `json:"error"`
	}
	pkJSON(t, b.Post(srv.URL+"/account/passkeys/register/begin", url.Values{"csrf_token": {csrf}}), http.StatusOK, &begin)
	cred, err := a.Create(srv.URL, []byte(begin.PublicKey))
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	var done struct{ ID, Name string }
	pkJSON(t, b.Post(srv.URL+"/account/passkeys/register/finish?flow="+url.QueryEscape(begin.Flow),
		url.Values{"csrf_token": {csrf}, "name": {name}, "credential": {string(cred)}}), http.StatusOK, &done)
	if done.ID == "" {
		t.Fatalf("finish returned no passkey")
	}
}

// pkLoginHTTP answers the passkey form on a login page (the identify step
// or the second-factor step) as the page's script does.
func pkLoginHTTP(t *testing.T, srv *testkit.Server, b *testkit.Browser, page *testkit.Page, a *passkeytest.Authenticator) *testkit.Page {
	t.Helper()
	form := page.FormWithButton(t, "method", "passkey")
	action, _ := url.Parse(form.Action)
	var options json.RawMessage
	pkJSON(t, b.Post(srv.URL+"/login/passkey/options?flow="+url.QueryEscape(action.Query().Get("flow")),
		url.Values{"csrf_token": {form.Fields.Get("csrf_token")}}), http.StatusOK, &options)
	assertion, err := a.Get(srv.URL, []byte(options))
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	form.Set("credential", string(assertion))
	return b.Submit(form)
}

// pkJSON decodes a JSON answer, failing the test on another status.
func pkJSON(t *testing.T, p *testkit.Page, status int, v any) {
	t.Helper()
	if p.Status != status || !strings.HasPrefix(p.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s: status %d (%s), want %d JSON:\n%.800s", p.URL, p.Status, p.Header.Get("Content-Type"), status, p.Body)
	}
	if err := json.Unmarshal([]byte(p.Body), v); err != nil {
		t.Fatalf("%s: %v", p.URL, err)
	}
}

func pkAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// --- a real browser ---------------------------------------------------

// chromiumPath is Debian's Chromium, which CI installs.
const chromiumPath = "/usr/bin/chromium"

// newChromium starts a headless Chromium with a fresh profile and returns
// a context for one tab. Without the binary the test fails in CI (CI set)
// and is skipped elsewhere. What the page logs is shown if the test fails.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: CI must run the browser tests (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("the browser tests need %s (apt-get install chromium); skipping", chromiumPath)
	}
	profile := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	// The whole test gets three minutes; the browser dies with the context.
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	var (
		mu      sync.Mutex
		console []string
	)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() && len(console) > 0 {
			t.Logf("browser console:\n%s", strings.Join(console, "\n"))
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	return ctx
}

// addVirtualAuthenticator attaches a CTAP2 platform authenticator with
// resident keys and user verification (it always verifies) to the tab.
// backup sets the backup-eligible and backup-state flags of the
// credentials it makes: a synced passkey, or a device-bound one.
func addVirtualAuthenticator(t *testing.T, ctx context.Context, backup bool) cdpwebauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(ctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{EnableUI: new(false)}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                cdpwebauthn.Ctap2versionCtap21,
			Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
			DefaultBackupEligibility:    backup,
			DefaultBackupState:          backup,
		},
	})
	if err != nil {
		t.Fatalf("add virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

// virtualCredentials lists what the virtual authenticator holds.
func virtualCredentials(t *testing.T, ctx context.Context, id cdpwebauthn.AuthenticatorID) []*cdpwebauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		t.Fatalf("virtual authenticator credentials: %v", err)
	}
	return res.Credentials
}

// blockAutofill makes the pages see a browser without passkey autofill
// (conditional mediation), until the returned func is called. Chromium's
// virtual authenticator answers an autofill request at once, as if the user
// had picked the passkey from the suggestions; a person who types their
// password never does, and a test of the button must click it itself.
func blockAutofill(t *testing.T, ctx context.Context) (unblock func()) {
	t.Helper()
	res, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `if (window.PublicKeyCredential) { PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false); }`,
	})
	if err != nil {
		t.Fatalf("block autofill: %v", err)
	}
	return func() {
		t.Helper()
		if _, err := chromedp.Call(ctx, page.RemoveScriptToEvaluateOnNewDocument,
			page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: res.Identifier}); err != nil {
			t.Fatalf("unblock autofill: %v", err)
		}
	}
}

// addCredentialJSON is WebAuthn.addCredential with only the fields this
// Chromium knows: cdproto always sends generateCmtgKeyOnNextOperation,
// which it refuses.
var addCredentialJSON = cdp.Command[map[string]any, cdp.Empty]{Method: cdpwebauthn.CommandAddCredential}

// restoreVirtualCredential puts a credential read with virtualCredentials
// back on the authenticator.
func restoreVirtualCredential(t *testing.T, ctx context.Context, id cdpwebauthn.AuthenticatorID, c *cdpwebauthn.Credential) {
	t.Helper()
	std := base64.StdEncoding.EncodeToString
	_, err := chromedp.Call(ctx, addCredentialJSON, map[string]any{
		"authenticatorId": id,
		"credential": map[string]any{
			"credentialId": std(c.CredentialID), "isResidentCredential": c.IsResidentCredential, "rpId": c.RpID,
			"privateKey": std(c.PrivateKey), "userHandle": std(c.UserHandle), "signCount": c.SignCount,
			"backupEligibility": c.BackupEligibility, "backupState": c.BackupState,
		},
	})
	if err != nil {
		t.Fatalf("restore the virtual credential: %v", err)
	}
}

// browse runs steps in the tab, failing the test with what went wrong.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// waitFor polls the page until selector matches, and fails early with the
// page's own error message when an error shows instead.
func waitFor(t *testing.T, ctx context.Context, what, selector string) {
	t.Helper()
	script := fmt.Sprintf(`(() => {
		if (document.querySelector(%q)) return "ok";
		for (const el of document.querySelectorAll('.alert.error')) {
			if (!el.hidden && el.textContent.trim()) return "error: " + el.textContent.trim();
		}
		return "";
	})()`, selector)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A navigation can destroy the page between two polls: try again.
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](script))
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		switch {
		case state == "ok":
			return
		case strings.HasPrefix(state, "error: "):
			t.Fatalf("%s: the page at %s shows %q", what, loc, strings.TrimPrefix(state, "error: "))
		case ctx.Err() != nil || time.Now().After(deadline):
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			t.Fatalf("%s: %s did not appear at %s:\n%.1500s", what, selector, loc, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rpCallback is a relying party's redirect URI on a real listener: the
// browser lands there and the test reads the code.
type rpCallback struct {
	URL   string
	codes chan url.Values
}

func newRPCallback(t *testing.T) *rpCallback {
	t.Helper()
	cb := &rpCallback{codes: make(chan url.Values, 4)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cb" {
			http.NotFound(w, r)
			return
		}
		cb.codes <- r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><title>Signed in</title><p id=rp-done>Signed in.</p>"))
	}))
	t.Cleanup(srv.Close)
	cb.URL = srv.URL + "/cb"
	return cb
}

const webSecret = "web-secret-web-secret-web-secret-12345"

// browserClients adds a confidential client whose redirect URI is cb.
func browserClients(cb *rpCallback) func(cfg *config.Config) {
	return func(cfg *config.Config) {
		standardClients(cfg)
		cfg.Clients = append(cfg.Clients, config.Client{ID: "web", Name: "Web", Secret: webSecret,
			RedirectURIs: []string{cb.URL}, Scopes: []string{"openid", "email", "profile"},
			GrantTypes: []string{"authorization_code"}, MinACR: "1fa"})
	}
}

// chromePassword fills the identify step with a password.
func chromePassword(email, pw string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(`input[name=identifier]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=identifier]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), pw),
		chromedp.Click(chromedp.CSS(`button[name=method][value=password]`)),
	)
}
