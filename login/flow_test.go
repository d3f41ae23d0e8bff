package login_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/store"
	"latchkey/web"
)

func newFlows(t *testing.T, st *store.Store, now func() time.Time) *login.Flows {
	return &login.Flows{Store: st, Kit: &web.Kit{}, TTL: time.Hour, Now: now}
}

// TestFlowUpdateJoinsTransaction: a store write made inside a flow update
// with the context it receives joins the update (no wait for the flow's own
// lock), rolls back with it, and the effects returned run only after a
// commit, once, outside the transaction.
func TestFlowUpdateJoinsTransaction(t *testing.T) {
	for _, b := range testkit.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			clock := testkit.NewClock()
			st := testkit.OpenStore(t, b.DSN(t), store.Options{Now: clock.Now})
			fs := newFlows(t, st, clock.Now)
			ctx := t.Context()
			const browser = "browser-one-0123456789012345678901234567890123"
			fl := &login.Flow{ReturnTo: "/account"}
			if err := fs.New(ctx, browser, fl); err != nil {
				t.Fatal(err)
			}

			var ran []string
			done := make(chan error, 1)
			go func() {
				_, err := fs.Update(ctx, fl.ID, browser, func(tx context.Context, fl *login.Flow) ([]login.AfterCommit, error) {
					if err := st.CreateUser(tx, &store.User{ID: "u-1", Email: "one@example.com"}); err != nil {
						return nil, err
					}
					fl.LoginHint = "one@example.com"
					return []login.AfterCommit{func(ctx context.Context) {
						// After the commit the write is visible outside the
						// transaction, and the flow's lock is released.
						if _, err := st.UserByID(ctx, "u-1"); err != nil {
							ran = append(ran, "user missing: "+err.Error())
						}
						if _, err := fs.Apply(ctx, fl.ID, browser, func(*login.Flow) error { return nil }); err != nil {
							ran = append(ran, "flow still locked: "+err.Error())
						}
						ran = append(ran, "after")
					}}, nil
				})
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Update with a store write inside: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Update with a store write inside blocked for more than 5s")
			}
			if fmt.Sprint(ran) != "[after]" {
				t.Errorf("after-commit effects: %v, want [after]", ran)
			}
			got, err := fs.Get(ctx, fl.ID, browser)
			if err != nil || got.LoginHint != "one@example.com" {
				t.Fatalf("flow after update = %+v, %v", got, err)
			}

			// A failed update rolls its writes back and runs no effect.
			ran = nil
			abort := errors.New("abort")
			_, err = fs.Update(ctx, fl.ID, browser, func(tx context.Context, fl *login.Flow) ([]login.AfterCommit, error) {
				if err := st.CreateUser(tx, &store.User{ID: "u-2", Email: "two@example.com"}); err != nil {
					return nil, err
				}
				return []login.AfterCommit{func(context.Context) { ran = append(ran, "after") }}, abort
			})
			if !errors.Is(err, abort) {
				t.Fatalf("aborted Update = %v, want its error", err)
			}
			if len(ran) != 0 {
				t.Errorf("effects ran after a rollback: %v", ran)
			}
			if _, err := st.UserByID(ctx, "u-2"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("write of an aborted update survived: UserByID = %v", err)
			}

			// Another browser's update is refused before fn runs.
			called := false
			_, err = fs.Update(ctx, fl.ID, "browser-two-0123456789012345678901234567890123", func(context.Context, *login.Flow) ([]login.AfterCommit, error) {
				called = true
				return nil, nil
			})
			if !errors.Is(err, login.ErrFlowNotFound) || called {
				t.Errorf("foreign browser's Update = %v (fn called %v), want ErrFlowNotFound without calling fn", err, called)
			}
		})
	}
}
