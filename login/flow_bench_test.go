package login

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"latchkey/store"
	"latchkey/web"
)

// BenchmarkFlowLoadSave is one step of a sign-in's state: the flow loaded,
// changed and saved in one transaction (what every login POST does), on
// SQLite.
func BenchmarkFlowLoadSave(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open("sqlite://"+filepath.Join(b.TempDir(), "flows.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	fs := &Flows{Store: st, Kit: &web.Kit{}, TTL: time.Hour, Now: time.Now}
	fl := &Flow{ReturnTo: "/oauth2/auth?client_id=shop&response_type=code&scope=openid&state=abcdefgh&nonce=12345678"}
	if err := fs.New(ctx, "browser", fl); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := fs.Update(ctx, fl.ID, "browser", func(_ context.Context, fl *Flow) ([]AfterCommit, error) {
			fl.Failures++
			return nil, nil
		}); err != nil {
			b.Fatal(err)
		}
		if _, err := fs.Get(ctx, fl.ID, "browser"); err != nil {
			b.Fatal(err)
		}
	}
}
