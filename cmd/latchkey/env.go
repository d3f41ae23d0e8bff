package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"latchkey/config"
	"latchkey/store"
	"latchkey/templates"
)

// env is one invocation's inputs and outputs.
type env struct {
	configPath string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	log        *slog.Logger
}

func (e *env) logger() *slog.Logger {
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return e.log
}

// loadConfig reads and validates the config; a config with problems is an
// error listing every one of them.
func (e *env) loadConfig() (*config.Config, error) {
	if err := config.Check(e.configPath); err != nil {
		return nil, fmt.Errorf("config %s:\n%w", displayPath(e.configPath), err)
	}
	cfg, err := config.Load(e.configPath)
	if err != nil {
		return nil, err
	}
	// A template override that does not parse is a config error, found
	// here rather than at the first page view.
	if dir := cfg.Branding.TemplatesDir; dir != "" {
		if err := templates.CheckDir(dir); err != nil {
			return nil, fmt.Errorf("config %s:\nbranding.templates_dir: %w", displayPath(e.configPath), err)
		}
	}
	return cfg, nil
}

func displayPath(p string) string {
	if p == "" {
		return "(defaults)"
	}
	return p
}

// configuredStore loads the config and opens its database, migrated.
func (e *env) configuredStore(ctx context.Context) (*store.Store, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	return e.openStore(ctx, cfg)
}

// openStore opens the configured database and brings its schema up to
// date, so every command works on a fresh database.
func (e *env) openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	st, err := store.Open(cfg.Database.DSN, store.Options{})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// secretFile is where a config without secrets keeps its generated one:
// beside the SQLite database, so the two travel together.
func secretFile(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(store.SQLitePath(cfg.Database.DSN)), "latchkey.secret")
}

// ensureSecrets fills cfg.Secrets.Keys when the config gives none: with
// SQLite a secret is generated once and kept in a 0600 file (config
// validation already refuses PostgreSQL without shared secrets).
func (e *env) ensureSecrets(cfg *config.Config) error {
	if len(cfg.Secrets.Keys) > 0 {
		return nil
	}
	if store.SQLitePath(cfg.Database.DSN) == "" {
		return errors.New("secrets.keys: required with this database")
	}
	path := secretFile(cfg)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return err
		}
		b = []byte(base64.RawURLEncoding.EncodeToString(raw) + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			// Another process won the race; use its secret.
			b, err = os.ReadFile(path)
		} else if err == nil {
			_, err = f.Write(b)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("generate secret %s: %w", path, err)
		}
		e.logger().Warn("no secrets.keys configured: generated a secret for development; set secrets.keys for production", "file", path)
	} else if err != nil {
		return fmt.Errorf("read secret %s: %w", path, err)
	}
	secret := strings.TrimSpace(string(b))
	if len(secret) < 32 {
		return fmt.Errorf("secret file %s: shorter than 32 characters", path)
	}
	cfg.Secrets.Keys = []string{secret}
	return nil
}
