package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"latchkey/logging"
	"latchkey/metrics"
	"latchkey/server"
	"latchkey/store"
)

func (e *env) serve(ctx context.Context) error {
	hup := listenForHUP()
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	out, log, err := logging.New(e.stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	e.log = log
	if err := e.ensureSecrets(cfg); err != nil {
		return err
	}
	st, err := e.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := server.Options{Log: log, Metrics: metrics.New()}
	srv, err := server.New(ctx, cfg, st, opts)
	if err != nil {
		return err
	}
	live := server.NewLive(srv)
	rl := &reloader{e: e, live: live, st: st, opts: opts, out: out, log: log, cfg: cfg, hup: hup}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	servers := []*http.Server{server.HTTPServer(live, server.DefaultTimeouts)}
	listeners := []net.Listener{ln}
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics.listen %s: %w", cfg.Metrics.Listen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", opts.Metrics.Handler())
		servers = append(servers, server.HTTPServer(mux, server.DefaultTimeouts))
		listeners = append(listeners, mln)
		log.InfoContext(ctx, "metrics are served", "listen", mln.Addr().String())
	}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	go purge(ctx, st, log)
	// Due factor-recovery requests: any replica may run this; each request
	// is claimed by one of them.
	go srv.FactorRecovery.Loop(ctx, time.Minute)
	go rl.watch(ctx)
	log.InfoContext(ctx, "latchkey is serving", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "database", st.Describe())
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	log.InfoContext(ctx, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) && serveErr == nil {
			serveErr = err
		}
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

func (e *env) migrate(ctx context.Context) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	st, err := e.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema at version %d\n", v)
	return nil
}

// purgeEvery is how often expired flows, sessions and tokens are deleted.
// Every replica runs it; the deletes are idempotent.
const purgeEvery = 10 * time.Minute

func purge(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := st.PurgeExpired(ctx); err != nil {
				log.WarnContext(ctx, "purge expired rows", "err", err)
			}
		}
	}
}
