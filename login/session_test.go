package login_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"latchkey/internal/testkit"
	"latchkey/login"
	"latchkey/store"
)

// notifier records the sessions it was told about, and whether it was
// called while the caller's transaction was still open.
type notifier struct {
	mu    sync.Mutex
	ended []string
}

func (n *notifier) NotifyLogout(_ context.Context, s *login.Session) {
	n.mu.Lock()
	n.ended = append(n.ended, s.Hash)
	n.mu.Unlock()
}

func (n *notifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.ended)
}

// TestSessionsEnd: End revokes, audits, counts and notifies exactly once per
// session, only after the change commits, and nothing when it rolls back.
func TestSessionsEnd(t *testing.T) {
	for _, be := range testkit.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			clock := testkit.NewClock()
			st := testkit.OpenStore(t, be.DSN(t), store.Options{Now: clock.Now})
			n := &notifier{}
			var counted []login.EndReason
			s := &login.Sessions{Store: st, Audit: st, Now: clock.Now, Notifier: n,
				Ended: func(r login.EndReason) { counted = append(counted, r) }}
			mk := func(hash, user string) *login.Session {
				t.Helper()
				row := &store.Session{IDHash: hash, UserID: user, Data: []byte(`{"results":[]}`), AuthTime: clock.Now(),
					UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", IP: "203.0.113.9",
					ExpiresAt: clock.Now().Add(time.Hour)}
				if err := st.CreateSession(ctx, row); err != nil {
					t.Fatal(err)
				}
				sess, err := s.Get(ctx, hash)
				if err != nil || sess == nil {
					t.Fatalf("Get(%s) = %v, %v", hash, sess, err)
				}
				return sess
			}
			live := func(hash string) bool {
				sess, err := s.Get(ctx, hash)
				if err != nil {
					t.Fatal(err)
				}
				return sess != nil
			}

			a := mk("a", "u1")
			ok, err := s.End(ctx, a, login.EndLogout)
			if err != nil || !ok || live("a") || n.count() != 1 || len(counted) != 1 || counted[0] != login.EndLogout {
				t.Fatalf("End: ok=%v err=%v live=%v notified=%d counted=%v", ok, err, live("a"), n.count(), counted)
			}
			if ok, err := s.End(ctx, a, login.EndRevoked); ok || err != nil || n.count() != 1 {
				t.Errorf("ending an ended session again: ok=%v err=%v notified=%d", ok, err, n.count())
			}
			evs, err := st.RecentEvents(ctx, "u1", 5)
			if err != nil || len(evs) != 1 || evs[0].Event != login.EventSessionEnded || evs[0].Detail != "reason=logout" ||
				evs[0].IP != "203.0.113.9" || evs[0].UserAgent == "" {
				t.Errorf("audit after End: %+v %v", evs, err)
			}

			// Inside a transaction: nobody is told until it commits.
			b := mk("b", "u1")
			err = st.Transaction(ctx, func(ctx context.Context) error {
				if _, err := s.End(ctx, b, login.EndDisabled); err != nil {
					return err
				}
				if n.count() != 1 || len(counted) != 1 {
					t.Errorf("notified inside the transaction")
				}
				return nil
			})
			if err != nil || n.count() != 2 || live("b") {
				t.Errorf("after commit: err=%v notified=%d live=%v", err, n.count(), live("b"))
			}

			// Rolled back: the session lives, nobody is told, nothing audited.
			c := mk("c", "u2")
			failed := errors.New("later step failed")
			err = st.Transaction(ctx, func(ctx context.Context) error {
				if _, err := s.End(ctx, c, login.EndDisabled); err != nil {
					return err
				}
				return failed
			})
			if !errors.Is(err, failed) || n.count() != 2 || !live("c") {
				t.Errorf("after rollback: err=%v notified=%d live=%v", err, n.count(), live("c"))
			}
			if evs, _ := st.RecentEvents(ctx, "u2", 5); len(evs) != 0 {
				t.Errorf("a rolled-back End left audit events: %+v", evs)
			}

			// EndUser ends all of one user's sessions but the kept one.
			mk("d", "u2")
			mk("e", "u2")
			mk("f", "u3")
			got, err := s.EndUser(ctx, "u2", login.EndPasswordChanged, "d")
			if err != nil || got != 2 || !live("d") || live("c") || live("e") || !live("f") || n.count() != 4 {
				t.Errorf("EndUser: n=%d err=%v live d=%v c=%v e=%v f=%v notified=%d", got, err, live("d"), live("c"), live("e"), live("f"), n.count())
			}
		})
	}
}
