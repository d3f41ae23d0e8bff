package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"latchkey/config"
)

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       string            `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test     []string `yaml:"test"`
			Interval string   `yaml:"interval"`
			Timeout  string   `yaml:"timeout"`
			Retries  int      `yaml:"retries"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestComposeFileIsConsistent(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	lk, ok := c.Services["latchkey"]
	if !ok {
		t.Fatal("no latchkey service")
	}
	if lk.Build != "." {
		t.Errorf("latchkey builds from %q, want the repository's Dockerfile", lk.Build)
	}
	if _, err := os.Stat("../Dockerfile"); err != nil {
		t.Errorf("Dockerfile: %v", err)
	}
	pg, ok := c.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil {
		t.Errorf("postgres service missing, not an image of postgres, or without healthcheck")
	}
	if lk.DependsOn["postgres"].Condition != "service_healthy" {
		t.Errorf("latchkey must wait for a healthy postgres")
	}
	for _, v := range pg.Volumes {
		name, _, _ := strings.Cut(v, ":")
		if _, ok := c.Volumes[name]; !ok && !strings.HasPrefix(name, ".") {
			t.Errorf("postgres volume %q is not declared", name)
		}
	}
	// The mounted config must exist and be the one the command names.
	var cfgPath string
	for _, v := range lk.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Fatalf("volume %q", v)
		}
		if _, err := os.Stat(filepath.Join("..", parts[0])); err != nil {
			t.Errorf("volume source %s: %v", parts[0], err)
		}
		if slices.Contains(lk.Command, parts[1]) {
			cfgPath = filepath.Join("..", parts[0])
		}
	}
	if cfgPath == "" {
		t.Fatalf("latchkey's --config file is not mounted: command %v volumes %v", lk.Command, lk.Volumes)
	}
	t.Setenv("LATCHKEY_SECRET", strings.Repeat("s", 40))
	t.Setenv("POSTGRES_PASSWORD", "pw")
	if err := config.Check(cfgPath); err != nil {
		t.Fatalf("%s does not pass config check:\n%v", cfgPath, err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.Database.DSN, "@postgres:5432/") {
		t.Errorf("config does not point at the compose postgres service: %s", cfg.Database.DSN)
	}
	for _, env := range []string{"LATCHKEY_SECRET", "POSTGRES_PASSWORD"} {
		if _, ok := lk.Environment[env]; !ok {
			t.Errorf("latchkey service does not pass %s", env)
		}
	}
}
