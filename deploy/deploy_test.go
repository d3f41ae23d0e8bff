package deploy

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"latchkey/config"
)

type service struct {
	Image       string            `yaml:"image"`
	Build       string            `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	NetworkMode string            `yaml:"network_mode"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
}

type compose struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

func readCompose(t *testing.T, path string) compose {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// The database password must never be pasted into a URL, where a
	// character such as @ or / would break it.
	if m := regexp.MustCompile(`://[^\s"']*\$\{?POSTGRES_PASSWORD`).FindString(string(raw)); m != "" {
		t.Errorf("%s puts POSTGRES_PASSWORD into a URL: %s", path, m)
	}
	return c
}

// checkLatchkey checks one latchkey service of the compose file at dir:
// built from the repository's Dockerfile, its config mounted where
// LATCHKEY_CONFIG says, and that config passing `config check` with the
// environment the service sets.
func checkLatchkey(t *testing.T, dir, name string, s service, c compose) *config.Config {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, s.Build, "Dockerfile")); s.Build == "" || err != nil {
		t.Errorf("%s: build %q has no Dockerfile", name, s.Build)
	}
	cfgIn := s.Environment["LATCHKEY_CONFIG"]
	if cfgIn == "" {
		t.Fatalf("%s: LATCHKEY_CONFIG not set (the HEALTHCHECK and every command read it)", name)
	}
	var cfgPath string
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Fatalf("%s: volume %q", name, v)
		}
		if strings.HasPrefix(parts[0], ".") {
			if _, err := os.Stat(filepath.Join(dir, parts[0])); err != nil {
				t.Errorf("%s: volume source %s: %v", name, parts[0], err)
			}
		} else if _, ok := c.Volumes[parts[0]]; !ok {
			t.Errorf("%s: volume %q is not declared", name, parts[0])
		}
		if parts[1] == cfgIn {
			cfgPath = filepath.Join(dir, parts[0])
		}
	}
	if cfgPath == "" {
		t.Fatalf("%s: %s is not mounted: volumes %v", name, cfgIn, s.Volumes)
	}
	for k, v := range s.Environment {
		if strings.HasPrefix(v, "${") {
			// ${X:?msg} or ${X:-default}: a value stands in for the admin's.
			t.Setenv(k, strings.Repeat("s", 40))
		} else {
			t.Setenv(k, v)
		}
	}
	if err := config.Check(cfgPath); err != nil {
		t.Fatalf("%s: %s does not pass config check:\n%v", name, cfgPath, err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cfg.Database.DSN)
	if err != nil || u.Host != "postgres:5432" {
		t.Errorf("%s: config does not point at the compose postgres service: %s", name, cfg.Database.DSN)
	} else if _, has := u.User.Password(); has {
		t.Errorf("%s: the DSN holds a password; pass PGPASSWORD instead", name)
	}
	if s.Environment["PGPASSWORD"] == "" {
		t.Errorf("%s: PGPASSWORD not passed", name)
	}
	if _, ok := s.DependsOn["postgres"]; !ok || s.DependsOn["postgres"].Condition != "service_healthy" {
		t.Errorf("%s must wait for a healthy postgres", name)
	}
	if !strings.HasPrefix(cfg.Listen, "0.0.0.0:") {
		t.Errorf("%s: listen %s is not reachable from outside the container", name, cfg.Listen)
	}
	return cfg
}

func checkHealthchecks(t *testing.T, c compose, except ...string) {
	t.Helper()
	for name, s := range c.Services {
		if slices.Contains(except, name) {
			continue
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Retries == 0 {
			t.Errorf("%s has no healthcheck", name)
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
			}
			if d.Condition == "" {
				t.Errorf("%s: depends_on %s without a condition", name, dep)
			}
		}
	}
}

// TestComposeFile: latchkey + PostgreSQL + Mailpit + a one-shot that
// creates the demo user; a demo client in the mounted config; healthchecks.
func TestComposeFile(t *testing.T) {
	c := readCompose(t, "../docker-compose.yml")
	for _, name := range []string{"postgres", "latchkey", "latchkey-init", "mailpit"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("no %s service", name)
		}
	}
	if !strings.HasPrefix(c.Services["postgres"].Image, "postgres:") || !strings.HasPrefix(c.Services["mailpit"].Image, "axllent/mailpit:") {
		t.Errorf("images: postgres %q, mailpit %q", c.Services["postgres"].Image, c.Services["mailpit"].Image)
	}
	checkHealthchecks(t, c, "latchkey-init")
	lk := c.Services["latchkey"]
	cfg := checkLatchkey(t, "..", "latchkey", lk, c)
	if got := lk.Healthcheck.Test; !slices.Equal(got, []string{"CMD", "latchkey", "healthcheck"}) {
		t.Errorf("latchkey healthcheck %v", got)
	}
	if lk.DependsOn["latchkey-init"].Condition != "service_completed_successfully" {
		t.Errorf("latchkey must start after the demo user exists")
	}
	if len(cfg.Clients) == 0 || cfg.Clients[0].ID != "demo" {
		t.Errorf("no demo client in the mounted config")
	}
	// Mailpit on latchkey's loopback: the only place plain SMTP may go.
	if c.Services["mailpit"].NetworkMode != "service:latchkey" || !strings.HasPrefix(cfg.Mail.SMTPURL, "smtp://127.0.0.1:1025") {
		t.Errorf("mailpit network %q, smtp_url %q", c.Services["mailpit"].NetworkMode, cfg.Mail.SMTPURL)
	}
	if c.Services["mailpit"].Environment["MP_SMTP_BIND_ADDR"] != "127.0.0.1:1025" || !slices.Contains(lk.Ports, "8025:8025") {
		t.Errorf("mailpit must listen for SMTP on loopback and publish its UI through latchkey's ports")
	}
	init := c.Services["latchkey-init"]
	script := strings.Join(init.Command, " ")
	if !strings.Contains(script, "user add demo@example.com") || !strings.Contains(script, "--password-stdin") || init.Environment["DEMO_PASSWORD"] == "" {
		t.Errorf("latchkey-init does not add the demo user from DEMO_PASSWORD: %q", script)
	}
	checkLatchkey(t, "..", "latchkey-init", init, c)
}

// TestReplicasComposeFile: two latchkey replicas behind Caddy on one
// PostgreSQL, with the proxy trusted for forwarded headers.
func TestReplicasComposeFile(t *testing.T) {
	c := readCompose(t, "replicas/docker-compose.yml")
	checkHealthchecks(t, c)
	var replicas []string
	for name, s := range c.Services {
		if strings.HasPrefix(name, "latchkey") {
			cfg := checkLatchkey(t, "replicas", name, s, c)
			if len(cfg.TrustedProxies) == 0 {
				t.Errorf("%s trusts no proxy: every logged IP would be Caddy's", name)
			}
			replicas = append(replicas, name)
		}
	}
	if len(replicas) != 2 {
		t.Fatalf("replicas: %v, want two", replicas)
	}
	caddy, ok := c.Services["caddy"]
	if !ok || !strings.HasPrefix(caddy.Image, "caddy:") {
		t.Fatal("no caddy service")
	}
	cf, err := os.ReadFile("replicas/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range replicas {
		if !strings.Contains(string(cf), r+":8080") {
			t.Errorf("Caddyfile does not route to %s", r)
		}
		if caddy.DependsOn[r].Condition != "service_healthy" {
			t.Errorf("caddy must wait for a healthy %s", r)
		}
	}
}

// TestDockerfile: multi-stage, cgo on (SQLite), not root, a HEALTHCHECK
// the binary answers itself.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(df, -1)); n < 2 {
		t.Errorf("%d stages, want a build and a runtime stage", n)
	}
	if !strings.Contains(df, "CGO_ENABLED=1") || !strings.Contains(df, "cgo") {
		t.Errorf("the Dockerfile must build with cgo and say why")
	}
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindStringSubmatch(df)
	if user == nil || strings.HasPrefix(user[1], "root") || strings.HasPrefix(user[1], "0") {
		t.Errorf("runs as root: %v", user)
	}
	if !regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["latchkey", "healthcheck"\]`).MatchString(df) {
		t.Errorf("no HEALTHCHECK running latchkey healthcheck")
	}
}

// TestSystemdUnit: reload is SIGHUP, never a restart.
func TestSystemdUnit(t *testing.T) {
	raw, err := os.ReadFile("latchkey.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecReload=/bin/kill -HUP $MAINPID", "ExecStart=/usr/local/bin/latchkey serve", "User=latchkey"} {
		if !strings.Contains(string(raw), want+"\n") {
			t.Errorf("latchkey.service lacks %q", want)
		}
	}
}
