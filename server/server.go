package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"latchkey/account"
	"latchkey/config"
	"latchkey/consent"
	"latchkey/demo"
	"latchkey/factorrecovery"
	"latchkey/login"
	"latchkey/login/lockout"
	"latchkey/login/magiclink"
	"latchkey/login/passkey"
	"latchkey/login/password"
	"latchkey/login/recovery"
	"latchkey/login/totp"
	"latchkey/mail"
	"latchkey/metrics"
	"latchkey/provider"
	"latchkey/reset"
	"latchkey/seal"
	"latchkey/signup"
	"latchkey/store"
	"latchkey/templates"
	"latchkey/web"
)

// Lifetimes of the interactive state.
const (
	FlowTTL    = 30 * time.Minute
	SessionTTL = 12 * time.Hour
	// MaxFlowFailures stops a flow after that many wrong answers; the
	// per-account limits of the hardening work come on top.
	MaxFlowFailures = 10
	// ReadyTimeout bounds /readyz, so a hung database fails it quickly.
	ReadyTimeout = 3 * time.Second
)

// Options are the injectable parts; zero values mean the real ones.
type Options struct {
	Log  *slog.Logger
	Now  func() time.Time
	Rand io.Reader
	// Mailer overrides the one mail.smtp_url names.
	Mailer mail.Mailer
	// PasswordParams overrides argon2id's cost (tests use a cheap one).
	PasswordParams *password.Params
	// LockoutSleep is how the IP throttle waits (lockout.Guard.Sleep); nil
	// is a timer that ends with the request. Tests record the waits.
	LockoutSleep func(ctx context.Context, d time.Duration) error
	// Metrics receives the server's counters; nil makes a new set. The
	// binary passes the same one to every server it builds, so a reload
	// keeps the counts.
	Metrics *metrics.Metrics
}

// Server is the assembled IdP.
type Server struct {
	Handler  http.Handler
	Provider *provider.Provider
	Login    *login.Service
	Keys     *provider.Keys
	Clients  *provider.Clients
	Hasher   *password.Hasher
	Store    *store.Store
	Mailer   mail.Mailer
	Metrics  *metrics.Metrics
	// FactorRecovery's RunDue carries out due factor-recovery requests;
	// serve runs it periodically (see Loop).
	FactorRecovery *factorrecovery.Service
}

// New assembles the server. cfg must be valid and have at least one secret.
func New(ctx context.Context, cfg *config.Config, st *store.Store, opts Options) (*Server, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	opts.Metrics.WatchDB("latchkey", st.SQL())
	log := opts.Log
	kr, err := seal.New(cfg.Secrets.Keys, opts.Rand)
	if err != nil {
		return nil, err
	}
	issuer := cfg.IssuerURL()
	if issuer == nil {
		return nil, errors.New("issuer: not a valid URL")
	}
	mailer := opts.Mailer
	if mailer == nil {
		mailer, err = mail.New(cfg.Mail.SMTPURL, cfg.Mail.From, mail.Options{Log: log, Now: opts.Now, Rand: opts.Rand, Count: opts.Metrics.Mail})
		if err != nil {
			return nil, err
		}
	}
	letters, err := mail.NewLetters(cfg.Branding.Name, cfg.Branding.PrimaryColor)
	if err != nil {
		return nil, err
	}
	postman := &mail.Postman{Letters: letters, Mailer: mailer, Log: log}
	kit := &web.Kit{Keys: kr, Secure: issuer.Scheme == "https", Rand: opts.Rand}
	render, err := templates.NewBranded(log, templates.Brand{Name: cfg.Branding.Name, LogoURL: cfg.Branding.LogoURL,
		PrimaryColor: cfg.Branding.PrimaryColor, Dir: cfg.Branding.TemplatesDir})
	if err != nil {
		return nil, fmt.Errorf("branding.templates_dir: %w", err)
	}
	clientCfg := cfg.Clients
	if cfg.DevMode {
		clientCfg = append(slices.Clone(clientCfg), demo.Client(issuer.String(), kr))
	}
	redirects := map[string][]string{}
	for _, c := range clientCfg {
		redirects[c.ID] = c.RedirectURIs
	}
	render.SetClientRedirects(redirects)
	clients, err := provider.NewClients(clientCfg)
	if err != nil {
		return nil, fmt.Errorf("clients: %w", err)
	}
	keys := &provider.Keys{Store: st, Seal: kr, Now: opts.Now, Rand: opts.Rand, Grace: provider.KeyGraceFor(cfg.Tokens.IDTokenTTL.Duration),
		Alg: cfg.Signing.Alg}
	if err := keys.Ensure(ctx); err != nil {
		return nil, err
	}

	params := password.OWASP
	if opts.PasswordParams != nil {
		params = *opts.PasswordParams
	}
	hasher := &password.Hasher{Params: params, Rand: opts.Rand}
	pw, err := password.New(st, hasher, log)
	if err != nil {
		return nil, err
	}
	otpApp := &totp.Factor{Store: st, Keys: kr, Issuer: cfg.TOTP.IssuerLabel, Params: totp.Params{Skew: cfg.TOTP.Skew},
		Audit: st, Rand: opts.Rand, Log: log}
	recoveryCodes := &recovery.Factor{Store: st, TOTP: otpApp, Audit: st, Users: st, Mailer: mailer, Rand: opts.Rand, Log: log}
	passkeys, err := passkey.New(passkey.Config{RPID: cfg.RPID(), RPName: cfg.WebAuthn.RPName, Origins: cfg.Origins()}, st, log, opts.Now, opts.Rand)
	if errors.Is(err, passkey.ErrNoDomain) {
		log.WarnContext(ctx, "passkeys are off", "reason", err)
	} else if err != nil {
		return nil, err
	}

	flows := &login.Flows{Store: st, Kit: kit, TTL: FlowTTL, Now: opts.Now}
	sessions := &login.Sessions{Store: st, Kit: kit, TTL: SessionTTL, Now: opts.Now, Audit: st, Log: log}
	svc := &login.Service{
		Factors: []login.Factor{pw, otpApp, recoveryCodes},
		Flows:   flows, Sessions: sessions, Users: st, Audit: st, Kit: kit, Log: log, Now: opts.Now,
		MaxFailures: MaxFlowFailures,
		Remember:    &login.RememberedBrowsers{Store: st, Kit: kit, TTL: cfg.RememberBrowser.TTL.Duration, Now: opts.Now},
	}
	emails := func(ctx context.Context, userID string) string {
		u, err := st.UserByID(ctx, userID)
		if err != nil {
			return ""
		}
		return u.Email
	}
	svc.Lockout = &lockout.Guard{Store: st, Config: cfg.Lockout, Mailer: mailer, Email: emails, Log: log,
		OnLock: func(ctx context.Context) { metrics.From(ctx).Lockout() }, Sleep: opts.LockoutSleep}
	svc.Accounts = st
	turnOn := &totp.TurnOn{Factor: otpApp, Codes: recoveryCodes, Tx: st, Audit: st, Postman: postman}
	pages := &login.Pages{Service: svc, Render: render, ClientName: clients.Name, Signup: cfg.Signup, Emails: emails,
		Enrollers: []login.Enroller{turnOn}}
	proofs := &magiclink.Proofs{Store: st, Keys: kr, TTL: cfg.MagicLink.TTL.Duration, Rand: opts.Rand}
	magic := &magiclink.Factor{Proofs: proofs, Users: st, Postman: postman, Pages: pages,
		Issuer: strings.TrimSuffix(issuer.String(), "/"), AsSecond: cfg.MagicLink.SecondFactor, Log: log,
		HasStrong: func(ctx context.Context, userID string) (bool, error) {
			// TOTP or a passkey: those are the user's second factor.
			for _, f := range svc.Factors {
				if _, ok := f.(login.SecondFactor); !ok {
					continue
				}
				if on, err := f.(login.Enrollable).Enrolled(ctx, userID); err != nil || on {
					return on, err
				}
			}
			return false, nil
		}}
	svc.Factors = append(svc.Factors, magic)

	cons := &consent.Service{Store: st, Flows: flows, Sessions: sessions, Kit: kit, Render: render, ClientName: clients.Name, Emails: emails}
	svc.Consents = cons
	prov := provider.New(&provider.Provider{
		Issuer: issuer.String(), Clients: clients, Keys: keys, Login: svc,
		Users: st, SessionClients: st, Render: render, Log: log, Now: opts.Now,
	}, provider.Deps{Issuer: issuer.String(), Store: st, Clients: clients, Keys: keys, Seal: kr, Now: opts.Now,
		Tokens: cfg.Tokens})

	acct := &account.Service{Login: svc, Store: st, Kit: kit, Render: render, Log: log, Now: opts.Now,
		Sections: []account.Section{pw}, ClientName: clients.Name}
	totpPages := &account.TOTPPages{Account: acct, TOTP: otpApp, Recovery: recoveryCodes, TurnOn: turnOn, Postman: postman}
	recoveryPages := &account.RecoveryPages{Account: acct, TOTP: otpApp, Recovery: recoveryCodes}
	acct.Sections = append(acct.Sections, totpPages, recoveryPages)
	if passkeys != nil {
		svc.Factors = append(svc.Factors, passkeys)
		pages.Passkeys = passkeys
		acct.Sections = append(acct.Sections, passkeys)
	}

	sessions.Notifier = prov.Backchannel

	r := mux.NewRouter()
	acct.Mount(r)
	(&account.PasswordPages{Account: acct, Passwords: pw, Postman: postman}).Mount(r)
	if cfg.DevMode {
		(&demo.RP{Issuer: issuer.String(), Seal: kr, Kit: kit, Render: render, Log: log}).Mount(r)
	}
	if cfg.Signup {
		(&signup.Handler{Pages: pages, Users: st, Hasher: hasher, Proofs: proofs, Postman: postman,
			Issuer: strings.TrimSuffix(issuer.String(), "/")}).Mount(r)
	}
	totpPages.Mount(r)
	recoveryPages.Mount(r)
	magic.Mount(r)
	factorRecovery := &factorrecovery.Service{Store: st, Sessions: sessions, Postman: postman, Delay: cfg.Recovery.Delay.Duration,
		Issuer: strings.TrimSuffix(issuer.String(), "/"), Now: opts.Now, Log: log, Account: acct}
	acct.Sections = append(acct.Sections, factorRecovery)
	factorRecovery.Mount(r)
	(&reset.Handler{Factors: factorRecovery, Pages: pages, Users: st, Proofs: proofs, Postman: postman, Hasher: hasher,
		Issuer: strings.TrimSuffix(issuer.String(), "/"),
		EndSessions: func(ctx context.Context, userID string) error {
			_, err := sessions.EndUser(ctx, userID, login.EndPasswordReset, "")
			return err
		},
		TwoFA: func(ctx context.Context, userID string) bool {
			_, on, err := svc.Enrolled(ctx, userID)
			return err == nil && on
		}}).Mount(r)
	if passkeys != nil {
		pkPages := &account.Passkeys{Account: acct, Ceremonies: passkeys, Store: st, Postman: postman}
		pkPages.Mount(r)
		pages.PasskeyNotices = pkPages
		pages.AfterLogin = pkPages.Suggest
		(&passkey.Endpoints{Factor: passkeys, Flows: flows, Kit: kit, Log: log}).Mount(r)
	}
	prov.Mount(r)
	pages.Mount(r)
	cons.Mount(r)
	r.HandleFunc("/brand.css", render.BrandCSS).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/static/").Handler(templates.Static())
	r.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ping(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	}).Methods(http.MethodGet, http.MethodHead)
	// /healthz says the process and the database answer; /readyz also
	// needs a write to succeed, so a load balancer stops sending traffic
	// to a replica whose database is read-only or locked.
	r.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		if err := st.Ready(ctx); err != nil {
			log.WarnContext(r.Context(), "not ready", "err", err)
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		_, _ = io.WriteString(w, "ok\n")
	}).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		render.Error(w, http.StatusNotFound, "Page not found", "There is nothing at this address.")
	})

	edge := &layer{log: log, metrics: opts.Metrics, proxies: parseProxies(cfg.TrustedProxies)}
	edge.routes(r)
	return &Server{Handler: edge.wrap(guard(r, issuer.Scheme == "https")), Metrics: opts.Metrics, Provider: prov, Login: svc, Keys: keys, Clients: clients, Hasher: hasher, Store: st, Mailer: mailer, FactorRecovery: factorRecovery}, nil
}
