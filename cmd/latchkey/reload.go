package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"latchkey/config"
	"latchkey/logging"
	"latchkey/server"
	"latchkey/store"
)

// reloader applies a changed config file to a running server: the new file
// is checked in full first, and only a valid one replaces the server (one
// atomic swap in server.Live). Requests already running finish on the old
// server.
type reloader struct {
	e    *env
	live *server.Live
	st   *store.Store
	opts server.Options
	out  *logging.Output
	log  *slog.Logger
	// hup receives SIGHUP; see listenForHUP.
	hup chan os.Signal

	mu  sync.Mutex // one reload at a time
	cfg *config.Config
}

// restartOnly are the settings a running process cannot change: the
// listeners are bound and the database is open.
var restartOnly = []struct {
	path string
	get  func(*config.Config) string
}{
	{"listen", func(c *config.Config) string { return c.Listen }},
	{"database.dsn", func(c *config.Config) string { return c.Database.DSN }},
	{"metrics.listen", func(c *config.Config) string { return c.Metrics.Listen }},
}

// reload reads the config again; trigger says why (for the log). It
// returns whether the new config was applied.
func (rl *reloader) reload(ctx context.Context, trigger string) bool {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	log := rl.log.With("trigger", trigger)
	if err := config.Check(rl.e.configPath); err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, fe := range errs {
				log.ErrorContext(ctx, "config reload refused", "field", fe.Path, "problem", fe.Msg)
			}
		} else {
			log.ErrorContext(ctx, "config reload refused", "err", err)
		}
		log.WarnContext(ctx, "the running configuration stays in force until the file is fixed")
		return false
	}
	cfg, err := config.Load(rl.e.configPath)
	if err == nil {
		err = rl.e.ensureSecrets(cfg)
	}
	if err != nil {
		log.ErrorContext(ctx, "config reload refused", "err", err)
		return false
	}
	for _, s := range restartOnly {
		if old, now := s.get(rl.cfg), s.get(cfg); old != now {
			log.WarnContext(ctx, "config change needs a restart to apply; the old value stays in force", "field", s.path)
			// Keep what runs, so the next diff still reports it.
			switch s.path {
			case "listen":
				cfg.Listen = rl.cfg.Listen
			case "database.dsn":
				cfg.Database.DSN = rl.cfg.Database.DSN
			case "metrics.listen":
				cfg.Metrics.Listen = rl.cfg.Metrics.Listen
			}
		}
	}
	srv, err := server.New(ctx, cfg, rl.st, rl.opts)
	if err != nil {
		log.ErrorContext(ctx, "config reload refused", "err", err)
		return false
	}
	if err := rl.out.Set(cfg.Log.Level, cfg.Log.Format); err != nil {
		log.ErrorContext(ctx, "config reload refused", "err", err)
		return false
	}
	rl.live.Swap(srv)
	rl.cfg = cfg
	log.InfoContext(ctx, "config reloaded", "clients", len(cfg.Clients))
	return true
}

// listenForHUP takes SIGHUP from the start of serve, whose default action
// would end the process: `systemctl reload` must never stop the IdP.
func listenForHUP() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// watch reloads on SIGHUP and, when the server runs from a file, on a change
// of that file, until ctx ends.
func (rl *reloader) watch(ctx context.Context) {
	defer signal.Stop(rl.hup)

	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if path := rl.e.configPath; path != "" {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			// The directory, not the file: editors and Kubernetes replace
			// the file by renaming another over it, which ends a watch on
			// the old inode.
			err = w.Add(filepath.Dir(path))
		}
		if err != nil {
			rl.log.WarnContext(ctx, "config file changes are not watched; reload with SIGHUP", "err", err)
		} else {
			defer w.Close()
			events, watchErrs = w.Events, w.Errors
		}
	}
	abs, _ := filepath.Abs(rl.e.configPath)
	// An edit arrives as several events (truncate, write, rename); the
	// reload waits until they stop for settle.
	const settle = 200 * time.Millisecond
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-rl.hup:
			rl.reload(ctx, "SIGHUP")
		case ev := <-events:
			if p, _ := filepath.Abs(ev.Name); p != abs || ev.Op == fsnotify.Chmod {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(settle)
			} else {
				timer.Reset(settle)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			rl.reload(ctx, "file change")
		case err := <-watchErrs:
			rl.log.WarnContext(ctx, "config watch", "err", err)
		}
	}
}
