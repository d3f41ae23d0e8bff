package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Output is the one place the settings of a process's logs live.
type Output struct {
	w     io.Writer
	level slog.LevelVar
	mu    sync.RWMutex
	base  slog.Handler
	fmt   string
}

// New returns the output writing to w and a logger on it. level and format
// are config values ("info", "json"); unknown ones are an error.
func New(w io.Writer, level, format string) (*Output, *slog.Logger, error) {
	o := &Output{w: w}
	if err := o.Set(level, format); err != nil {
		return nil, nil, err
	}
	return o, slog.New(&handler{out: o}), nil
}

// Set changes the level and the format of every logger made from o.
func (o *Output) Set(level, format string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: &o.level}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "", "text":
		h = slog.NewTextHandler(o.w, opts)
	case "json":
		h = slog.NewJSONHandler(o.w, opts)
	default:
		return fmt.Errorf("log.format: %q is neither text nor json", format)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.level.Set(l)
	if format != o.fmt || o.base == nil {
		o.base, o.fmt = h, format
	}
	return nil
}

func (o *Output) current() slog.Handler {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.base
}

// handler defers to the Output's current handler, replaying the attributes
// and groups it was derived with.
type handler struct {
	out *Output
	ops []func(slog.Handler) slog.Handler
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.out.level.Level() }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	base := h.out.current()
	for _, op := range h.ops {
		base = op(base)
	}
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return base.Handle(ctx, r)
}

func (h *handler) with(op func(slog.Handler) slog.Handler) *handler {
	ops := make([]func(slog.Handler) slog.Handler, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &handler{out: h.out, ops: append(ops, op)}
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.with(func(b slog.Handler) slog.Handler { return b.WithAttrs(as) })
}

func (h *handler) WithGroup(name string) slog.Handler {
	return h.with(func(b slog.Handler) slog.Handler { return b.WithGroup(name) })
}

type ctxKey struct{}

// WithRequestID returns ctx carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// RequestID is the request ID in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// ContextHandler wraps h so that records logged with a request's context
// carry its request_id; for loggers not made by New (tests).
func ContextHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (c ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return c.Handler.Handle(ctx, r)
}

func (c ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{c.Handler.WithAttrs(as)}
}
func (c ctxHandler) WithGroup(n string) slog.Handler { return ctxHandler{c.Handler.WithGroup(n)} }
