package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/mux"
	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/seal"
	"latchkey/templates"
	"latchkey/web"
)

// ClientID is the demo relying party's client.
const ClientID = "demo"

const cookieName = "lk_demo"

// Client is the demo's client registration for the config.
func Client(issuer string, kr *seal.Keyring) config.Client {
	return config.Client{
		ID: ClientID, Name: "Latchkey demo", Secret: secret(kr),
		RedirectURIs:           []string{issuer + "/demo/callback"},
		PostLogoutRedirectURIs: []string{issuer + "/demo"},
		Scopes:                 []string{"openid", "profile", "email"},
		GrantTypes:             []string{"authorization_code"},
		MinACR:                 "1fa",
	}
}

// secret is derived from the server's secrets: stable across restarts and
// replicas, never written down.
func secret(kr *seal.Keyring) string {
	return base64.RawURLEncoding.EncodeToString(kr.MAC("demo-client-secret"))
}

// RP is the demo relying party.
type RP struct {
	Issuer string
	Seal   *seal.Keyring
	Kit    *web.Kit
	Render *templates.Renderer
	Log    *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider
}

// Mount registers /demo, /demo/start and /demo/callback.
func (d *RP) Mount(r *mux.Router) {
	r.HandleFunc("/demo", d.home).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/demo/start", d.start).Methods(http.MethodGet)
	r.HandleFunc("/demo/callback", d.callback).Methods(http.MethodGet)
}

// discover is lazy: the server cannot fetch its own discovery document
// before it listens.
func (d *RP) discover(ctx context.Context) (*oidc.Provider, oauth2.Config, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.provider == nil {
		p, err := oidc.NewProvider(ctx, d.Issuer)
		if err != nil {
			return nil, oauth2.Config{}, err
		}
		d.provider = p
	}
	return d.provider, oauth2.Config{ClientID: ClientID, ClientSecret: secret(d.Seal), Endpoint: d.provider.Endpoint(),
		RedirectURL: d.Issuer + "/demo/callback", Scopes: []string{"openid", "profile", "email"}}, nil
}

type pending struct {
	State, Nonce, Verifier string
	Params                 map[string]string
}

type view struct {
	Claims  []claim
	Raw     string
	Options []option
}

// claim is one row of the table: the claim, its value, and a line saying
// what it means for this sign-in.
type claim struct{ Name, Value, Means string }

// amrMeaning explains each RFC 8176 value Latchkey issues (SPEC: amr).
var amrMeaning = map[string]string{
	"pwd":   "a password",
	"otp":   "a one-time code (authenticator app or recovery code)",
	"email": "a code or link sent by email",
	"hwk":   "a device-bound passkey (hardware key)",
	"swk":   "a synced passkey (software key)",
	"user":  "the authenticator saw the user present",
	"pin":   "the authenticator verified the user (PIN or biometric)",
	"mfa":   "two different factors, or a passkey with user verification",
}

var acrMeaning = map[string]string{
	"1fa":  "one factor",
	"mfa":  "two factors",
	"phr":  "phishing-resistant: a passkey",
	"phrh": "phishing-resistant and hardware-bound: a device-bound passkey",
}

// explain says in one line what claim k with value v means here.
func explain(k string, v any) string {
	switch k {
	case "amr":
		var parts []string
		if list, ok := v.([]any); ok {
			for _, x := range list {
				s, _ := x.(string)
				if m, ok := amrMeaning[s]; ok {
					parts = append(parts, s+" = "+m)
				} else {
					parts = append(parts, s)
				}
			}
		}
		return "How you proved who you are (RFC 8176 methods): " + strings.Join(parts, "; ") + "."
	case "acr":
		s, _ := v.(string)
		m := acrMeaning[s]
		if m == "" {
			m = "a level this demo does not know"
		}
		return "The assurance level this sign-in reached: " + s + " = " + m + ". It is the strongest level your factors above prove; an app can demand a minimum (min_acr, acr_values)."
	case "auth_time":
		return "When you last proved a factor afresh; prompt=login and max_age move it."
	case "sub":
		return "Your stable, per-issuer user ID: what the app should key your account on."
	case "iss":
		return "The identity provider that issued the token."
	case "aud":
		return "The app the token is for (its client_id)."
	case "exp", "iat":
		return map[string]string{"exp": "When the token expires.", "iat": "When it was issued."}[k]
	case "nonce":
		return "The value the app sent, echoed so it can reject a replayed token."
	case "at_hash":
		return "Binds the token to the access token issued with it."
	case "sid":
		return "The sign-in session, for logout."
	case "email":
		return "Your email address (scope email)."
	case "email_verified":
		return "Whether that address was proven by a mail round trip or vouched for by an admin."
	case "name":
		return "Your name (scope profile)."
	}
	return ""
}

type option struct{ Label, Query string }

var options = []option{
	{"Sign in", ""},
	{"Sign in again (prompt=login)", "prompt=login"},
	{"Ask for two factors (acr_values=mfa)", "acr_values=mfa"},
	{"Ask for a passkey (acr_values=phr)", "acr_values=phr"},
}

func (d *RP) home(w http.ResponseWriter, r *http.Request) {
	d.Render.Render(w, http.StatusOK, "demo", templates.Page{Title: "Demo application", Data: view{Options: options}})
}

func (d *RP) start(w http.ResponseWriter, r *http.Request) {
	_, oc, err := d.discover(r.Context())
	if err != nil {
		d.fail(w, err)
		return
	}
	p := pending{State: d.Kit.RandomID(), Nonce: d.Kit.RandomID(), Verifier: oauth2.GenerateVerifier(), Params: map[string]string{}}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)}
	for _, k := range []string{"prompt", "acr_values"} {
		if v := r.URL.Query().Get(k); v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	b, _ := json.Marshal(p)
	sealed, err := d.Seal.Seal(b, []byte(cookieName))
	if err != nil {
		d.fail(w, err)
		return
	}
	d.Kit.SetCookie(w, cookieName, base64.RawURLEncoding.EncodeToString(sealed), 15*time.Minute)
	http.Redirect(w, r, oc.AuthCodeURL(p.State, opts...), http.StatusSeeOther)
}

func (d *RP) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var p pending
	c, err := d.Kit.Cookie(r, cookieName)
	if err == nil {
		var raw, b []byte
		if raw, err = base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			if b, err = d.Seal.Open(raw, []byte(cookieName)); err == nil {
				err = json.Unmarshal(b, &p)
			}
		}
	}
	if err != nil || p.State == "" || r.URL.Query().Get("state") != p.State {
		d.Render.Error(w, http.StatusBadRequest, "Demo: state mismatch", "Start again from /demo.")
		return
	}
	d.Kit.SetCookie(w, cookieName, "", -1)
	if e := r.URL.Query().Get("error"); e != "" {
		d.Render.Error(w, http.StatusOK, "Demo: the provider answered "+e, r.URL.Query().Get("error_description"))
		return
	}
	prov, oc, err := d.discover(ctx)
	if err != nil {
		d.fail(w, err)
		return
	}
	tok, err := oc.Exchange(ctx, r.URL.Query().Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		d.fail(w, err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: ClientID}).Verify(ctx, rawID)
	if err != nil || idt.Nonce != p.Nonce {
		d.fail(w, err)
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		d.fail(w, err)
		return
	}
	v := view{Options: options}
	names := make([]string, 0, len(claims))
	for k := range claims {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b, _ := json.Marshal(claims[k])
		if k == "auth_time" || k == "iat" || k == "exp" {
			if f, ok := claims[k].(float64); ok {
				b = append(b, []byte("  ("+time.Unix(int64(f), 0).UTC().Format(time.RFC3339)+")")...)
			}
		}
		v.Claims = append(v.Claims, claim{k, string(b), explain(k, claims[k])})
	}
	var pretty bytes.Buffer
	all, _ := json.Marshal(claims)
	_ = json.Indent(&pretty, all, "", "  ")
	v.Raw = pretty.String()
	d.Render.Render(w, http.StatusOK, "demo", templates.Page{Title: "Demo application", Notice: "Signed in. These are the ID token's claims.", Data: v})
}

func (d *RP) fail(w http.ResponseWriter, err error) {
	d.Log.Error("demo", "err", err)
	d.Render.Error(w, http.StatusBadGateway, "Demo: the sign-in could not be completed", "See the server log for details.")
}
