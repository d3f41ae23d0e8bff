package sleep

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"no wait", context.Background(), 0, nil},
		// An hour would hang the test if the ended context did not cut it.
		{"context ended", ended, time.Hour, context.Canceled},
	} {
		if err := For(tc.ctx, tc.d); !errors.Is(err, tc.want) {
			t.Errorf("%s: For = %v, want %v", tc.name, err, tc.want)
		}
	}
}
