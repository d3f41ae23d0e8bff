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
	return o, slog.New(&handler{root: o.current,
		enabled: func(_ context.Context, l slog.Level) bool { return l >= o.level.Level() }}), nil
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

// handler defers to a root handler (the Output's current one, or a fixed
// one for ContextHandler), replaying the attributes and groups it was
// derived with, and adds request_id from the record's context. The ID goes
// on the root, before the replayed groups, so it is a top-level field of
// every line (never "group.request_id"), where a search for one request's
// lines finds it.
type handler struct {
	root    func() slog.Handler
	enabled func(ctx context.Context, l slog.Level) bool
	ops     []func(slog.Handler) slog.Handler
	groups  bool // some op is a WithGroup
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	base := h.root()
	id := RequestID(ctx)
	if id != "" && h.groups {
		base = base.WithAttrs([]slog.Attr{slog.String(RequestIDKey, id)})
	}
	for _, op := range h.ops {
		base = op(base)
	}
	if id != "" && !h.groups {
		// Without groups the record's own attributes are top-level too,
		// and cheaper than a derived handler per record.
		r = r.Clone()
		r.AddAttrs(slog.String(RequestIDKey, id))
	}
	return base.Handle(ctx, r)
}

func (h *handler) with(op func(slog.Handler) slog.Handler, group bool) *handler {
	ops := make([]func(slog.Handler) slog.Handler, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &handler{root: h.root, enabled: h.enabled, ops: append(ops, op), groups: h.groups || group}
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	return h.with(func(b slog.Handler) slog.Handler { return b.WithAttrs(as) }, false)
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(b slog.Handler) slog.Handler { return b.WithGroup(name) }, true)
}

// RequestIDKey is the field a request's ID is logged under.
const RequestIDKey = "request_id"

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
// carry its request_id, as a top-level field; for loggers not made by New
// (tests).
func ContextHandler(h slog.Handler) slog.Handler {
	return &handler{root: func() slog.Handler { return h }, enabled: h.Enabled}
}
