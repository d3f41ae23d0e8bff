package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"latchkey/store"
	"latchkey/web"
)

// SessionCookie holds the SSO session's random ID; the database keeps only
// its hash.
const SessionCookie = "lk_session"

// SessionStore keeps SSO sessions; store.Store implements it.
type SessionStore interface {
	CreateSession(ctx context.Context, s *store.Session) error
	GetSession(ctx context.Context, idHash string) (*store.Session, error)
	UpdateSessionAuth(ctx context.Context, idHash string, data []byte, authTime, expiresAt time.Time) error
	RevokeSession(ctx context.Context, idHash string) (bool, error)
}

// Session is a browser's signed-in state.
type Session struct {
	// Hash identifies the session in the database and, as the ID token's
	// sid, to relying parties; the cookie value never leaves the browser.
	Hash     string
	UserID   string
	Results  []Result
	AuthTime time.Time
}

type sessionData struct {
	Results []Result `json:"results"`
}

// Sessions manages SSO sessions.
type Sessions struct {
	Store SessionStore
	Kit   *web.Kit
	TTL   time.Duration
	Now   func() time.Time
}

// Current returns the browser's live session, or nil.
func (s *Sessions) Current(ctx context.Context, r *http.Request) (*Session, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	row, err := s.Store.GetSession(ctx, web.Hash(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	var d sessionData
	if err := json.Unmarshal(row.Data, &d); err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	return &Session{Hash: row.IDHash, UserID: row.UserID, Results: d.Results, AuthTime: row.AuthTime}, nil
}

// Save records a finished login. When the browser's session belongs to the
// same user it is updated in place (a step-up keeps the session); otherwise
// the old one is revoked and a new ID issued, so a session ID never changes
// hands between users.
func (s *Sessions) Save(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, results []Result) (*Session, error) {
	data, err := json.Marshal(sessionData{Results: results})
	if err != nil {
		return nil, fmt.Errorf("save session: %w", err)
	}
	authTime := AuthTime(results)
	now := s.Now().UTC()
	cur, err := s.Current(ctx, r)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.UserID == userID {
		if err := s.Store.UpdateSessionAuth(ctx, cur.Hash, data, authTime, now.Add(s.TTL)); err != nil {
			return nil, err
		}
		return &Session{Hash: cur.Hash, UserID: userID, Results: results, AuthTime: authTime}, nil
	}
	if cur != nil {
		if _, err := s.Store.RevokeSession(ctx, cur.Hash); err != nil {
			return nil, err
		}
	}
	id := s.Kit.RandomID()
	row := &store.Session{
		IDHash: web.Hash(id), UserID: userID, Data: data, AuthTime: authTime,
		UserAgent: truncate(r.UserAgent(), 300), IP: web.ClientIP(r), ExpiresAt: now.Add(s.TTL),
	}
	if err := s.Store.CreateSession(ctx, row); err != nil {
		return nil, err
	}
	s.Kit.SetCookie(w, SessionCookie, id, 0)
	return &Session{Hash: row.IDHash, UserID: userID, Results: results, AuthTime: authTime}, nil
}

// End revokes the browser's session and clears the cookie; it returns the
// session that ended, or nil.
func (s *Sessions) End(ctx context.Context, w http.ResponseWriter, r *http.Request) (*Session, error) {
	cur, err := s.Current(ctx, r)
	if err != nil {
		return nil, err
	}
	s.Kit.SetCookie(w, SessionCookie, "", -1)
	if cur == nil {
		return nil, nil
	}
	if _, err := s.Store.RevokeSession(ctx, cur.Hash); err != nil {
		return nil, err
	}
	return cur, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
