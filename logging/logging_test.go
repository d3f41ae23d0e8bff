package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"latchkey/logging"
)

// TestRequestID: a record logged with a request's context carries its
// request_id as a top-level field, however the logger was derived (With,
// WithGroup), in both formats and through ContextHandler; a record
// without one carries none.
func TestRequestID(t *testing.T) {
	req := logging.WithRequestID(context.Background(), "req-123")
	loggers := map[string]func(buf *bytes.Buffer) *slog.Logger{
		"New json": func(buf *bytes.Buffer) *slog.Logger {
			_, l, err := logging.New(buf, "debug", "json")
			if err != nil {
				t.Fatal(err)
			}
			return l
		},
		"ContextHandler json": func(buf *bytes.Buffer) *slog.Logger {
			return slog.New(logging.ContextHandler(slog.NewJSONHandler(buf, nil)))
		},
	}
	tests := []struct {
		name   string
		ctx    context.Context
		derive func(l *slog.Logger) *slog.Logger
		want   string // request_id at the top, "" for none
	}{
		{"plain", req, func(l *slog.Logger) *slog.Logger { return l }, "req-123"},
		{"With", req, func(l *slog.Logger) *slog.Logger { return l.With("component", "mail") }, "req-123"},
		{"WithGroup", req, func(l *slog.Logger) *slog.Logger { return l.WithGroup("passkey") }, "req-123"},
		{"With then WithGroup then With", req, func(l *slog.Logger) *slog.Logger {
			return l.With("a", 1).WithGroup("g").With("b", 2)
		}, "req-123"},
		{"no request", context.Background(), func(l *slog.Logger) *slog.Logger { return l.WithGroup("g") }, ""},
	}
	for lname, mk := range loggers {
		for _, tc := range tests {
			t.Run(lname+"/"+tc.name, func(t *testing.T) {
				var buf bytes.Buffer
				tc.derive(mk(&buf)).InfoContext(tc.ctx, "hello", "k", "v")
				var line map[string]any
				if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
					t.Fatalf("not one JSON line: %v\n%s", err, buf.String())
				}
				got, _ := line["request_id"].(string)
				if got != tc.want {
					t.Errorf("top-level request_id = %q, want %q: %s", got, tc.want, buf.String())
				}
				if n := strings.Count(buf.String(), "request_id"); tc.want != "" && n != 1 {
					t.Errorf("request_id appears %d times, want once: %s", n, buf.String())
				}
			})
		}
	}
}

// TestRequestIDText: the text format too, and a logger derived before a
// reload switches format follows it, still with the request_id.
func TestRequestIDText(t *testing.T) {
	var buf bytes.Buffer
	out, l, err := logging.New(&buf, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	derived := l.WithGroup("g")
	ctx := logging.WithRequestID(context.Background(), "abc")
	derived.WarnContext(ctx, "first", "k", "v")
	if line := buf.String(); !strings.Contains(line, " request_id=abc ") || !strings.Contains(line, "g.k=v") {
		t.Errorf("text line: %q, want a top-level request_id=abc and g.k=v", line)
	}
	buf.Reset()
	if err := out.Set("info", "json"); err != nil {
		t.Fatal(err)
	}
	derived.WarnContext(ctx, "second")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["request_id"] != "abc" {
		t.Errorf("after the switch to JSON: %v %s", err, buf.String())
	}
	buf.Reset()
	derived.DebugContext(ctx, "below the level")
	if buf.Len() != 0 {
		t.Errorf("a debug line at level info: %s", buf.String())
	}
}
