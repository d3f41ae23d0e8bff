package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"latchkey/server"
	"latchkey/store"
)

func (e *env) serve(ctx context.Context) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if err := e.ensureSecrets(cfg); err != nil {
		return err
	}
	st, err := e.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	log := e.logger()
	srv, err := server.New(ctx, cfg, st, server.Options{Log: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	hs := server.HTTPServer(srv.Handler, server.DefaultTimeouts)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	go purge(ctx, st, log)
	log.Info("latchkey is serving", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "database", st.Describe())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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
				log.Warn("purge expired rows", "err", err)
			}
		}
	}
}
