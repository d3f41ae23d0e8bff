package testkit

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"

	"latchkey/config"
	"latchkey/logging"
	"latchkey/login/password"
	"latchkey/server"
	"latchkey/store"
	"latchkey/web"
)

// TestSecret is the secrets.keys entry test servers use.
const TestSecret = "test-secret-test-secret-test-secret-0123"

// CheapPassword makes argon2id fast in tests; production uses password.OWASP.
var CheapPassword = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Server is a running Latchkey on a loopback port.
type Server struct {
	URL    string
	Config *config.Config
	Store  *store.Store
	App    *server.Server
	HTTP   *httptest.Server
}

// ServerOptions adjust a test server.
type ServerOptions struct {
	// Configure edits the config before the server is built (clients...).
	// The issuer is already set to the server's address.
	Configure func(cfg *config.Config)
	Server    server.Options
	// Store tunes the store; its Now defaults to Server.Now.
	Store store.Options
}

// StartServer runs a server on dsn's database; it is closed after the test.
// The issuer uses "localhost" (WebAuthn refuses IP addresses as RP IDs).
func StartServer(t testing.TB, dsn string, o ServerOptions) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := config.Default()
	cfg.Issuer = "http://localhost:" + strconv.Itoa(port)
	cfg.Listen = ln.Addr().String()
	cfg.Database.DSN = dsn
	cfg.Secrets.Keys = []string{TestSecret}
	if o.Configure != nil {
		o.Configure(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid:\n%v", err)
	}
	for _, k := range cfg.Secrets.Keys {
		NoteSecret("secrets.keys", k)
	}
	for _, c := range cfg.Clients {
		NoteSecret("client secret", c.Secret)
	}
	if o.Store.Now == nil {
		o.Store.Now = o.Server.Now
	}
	st := OpenStore(t, dsn, o.Store)
	if o.Server.Log == nil {
		// Server errors show up in the failing test's output; every line
		// goes to the watched sink (secrets.go).
		o.Server.Log = slog.New(logging.ContextHandler(slog.NewMultiHandler(
			slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}),
			LogToSink())))
	}
	if o.Server.PasswordParams == nil {
		p := CheapPassword
		o.Server.PasswordParams = &p
	}
	app, err := server.New(context.Background(), cfg, st, o.Server)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	hs := httptest.NewUnstartedServer(noteSecrets(app.Handler))
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	return &Server{URL: cfg.Issuer, Config: cfg, Store: st, App: app, HTTP: hs}
}

// AddUser creates a user with a password and returns its ID. Like
// `latchkey user add` without --verified, the address is not yet proven:
// the test kit sets nothing production does not.
func (s *Server) AddUser(t testing.TB, email, pw string) string {
	t.Helper()
	return s.addUser(t, &store.User{Email: email}, pw)
}

// AddVerifiedUser is AddUser for an address the admin vouches for
// (`latchkey user add --verified --name NAME`).
func (s *Server) AddVerifiedUser(t testing.TB, email, name, pw string) string {
	t.Helper()
	return s.addUser(t, &store.User{Email: email, Name: name, EmailVerified: true}, pw)
}

func (s *Server) addUser(t testing.TB, u *store.User, pw string) string {
	t.Helper()
	NoteSecret("password", pw)
	hash, err := s.App.Hasher.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	u.ID, u.PasswordHash = web.RandomString(nil, 16), hash
	if err := s.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("add user: %v", err)
	}
	return u.ID
}
