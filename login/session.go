package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	RevokeSession(ctx context.Context, idHash string) (bool, error)
	ListUserSessions(ctx context.Context, userID string) ([]store.Session, error)
	TouchSession(ctx context.Context, idHash string, olderThan time.Time) error
	RotateSession(ctx context.Context, idHash, oldCookie, newCookie string, data []byte, authTime, expiresAt time.Time) error
	SessionByCookie(ctx context.Context, cookieHash string) (*store.Session, error)
}

// Session is a browser's signed-in state.
type Session struct {
	// Hash identifies the session in the database and, as the ID token's
	// sid, to relying parties; the cookie value never leaves the browser.
	Hash     string
	UserID   string
	Results  []Result
	AuthTime time.Time
	// The browser the session was made in, for the account page and the
	// audit trail.
	UserAgent string
	IP        string
	Created   time.Time
	LastSeen  time.Time
}

type sessionData struct {
	Results []Result `json:"results"`
}

// EndReason says why a session ended; it is audited and counted.
type EndReason string

// Every way a session ends.
const (
	EndLogout          EndReason = "logout"           // the user signed out on this browser
	EndRPLogout        EndReason = "rp_logout"        // a relying party's end_session request
	EndRevoked         EndReason = "revoked"          // the user revoked it from /account
	EndUserSwitch      EndReason = "user_switch"      // another user signed in on the browser
	EndDisabled        EndReason = "user_disabled"    // an admin disabled the account
	EndFactorsReset    EndReason = "factors_reset"    // an admin reset the account's factors
	EndPasswordChanged EndReason = "password_changed" // the user changed their password elsewhere
	EndPasswordReset   EndReason = "password_reset"   // the password was reset by email
	EndPasswordSet     EndReason = "password_set"     // an admin set the password (cli)
	EndDeleted         EndReason = "user_deleted"     // an admin deleted the account
)

// LogoutNotifier tells relying parties that a session ended (OpenID
// Back-Channel Logout); the provider implements it. It makes HTTP calls, so
// Sessions calls it only after the change is committed.
type LogoutNotifier interface {
	NotifyLogout(ctx context.Context, s *Session)
}

// Sessions manages SSO sessions.
type Sessions struct {
	Store SessionStore
	Kit   *web.Kit
	TTL   time.Duration
	Now   func() time.Time
	// Notifier receives every ended session; nil notifies nobody.
	Notifier LogoutNotifier
	// Audit records each ended session (event session.ended).
	Audit Auditor
	Log   *slog.Logger
	// Ended is called once for each session that ended, after the change
	// is committed: the place for a metric.
	Ended func(reason EndReason)
}

// lastSeenEvery bounds how often using a session writes its last-seen time.
const lastSeenEvery = 5 * time.Minute

// Current returns the browser's live session, or nil.
func (s *Sessions) Current(ctx context.Context, r *http.Request) (*Session, error) {
	c, err := s.Kit.Cookie(r, SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	row, err := s.Store.SessionByCookie(ctx, web.Hash(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	sess, err := fromRow(row)
	if err != nil {
		return nil, err
	}
	if now := s.Now().UTC(); now.Sub(sess.LastSeen) > lastSeenEvery {
		// Only for the account page's "last seen": a failure is no reason
		// to refuse the session.
		if err := s.Store.TouchSession(ctx, sess.Hash, now.Add(-lastSeenEvery)); err != nil && s.Log != nil {
			s.Log.WarnContext(ctx, "session last seen", "err", err)
		}
	}
	return sess, nil
}

// Get returns a live session by its hash (the sid), or nil.
func (s *Sessions) Get(ctx context.Context, hash string) (*Session, error) {
	row, err := s.Store.GetSession(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	return fromRow(row)
}

func fromRow(row *store.Session) (*Session, error) {
	var d sessionData
	if err := json.Unmarshal(row.Data, &d); err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	return &Session{Hash: row.IDHash, UserID: row.UserID, Results: d.Results, AuthTime: row.AuthTime,
		UserAgent: row.UserAgent, IP: row.IP, Created: row.CreatedAt, LastSeen: row.LastSeenAt}, nil
}

// List returns a user's live sessions, newest first.
func (s *Sessions) List(ctx context.Context, userID string) ([]*Session, error) {
	rows, err := s.Store.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]*Session, 0, len(rows))
	for i := range rows {
		sess, err := fromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, nil
}

// Save records a finished login in a session with a new ID: a step-up of
// the browser's session rotates it (Rotate), another user's is revoked. So
// a cookie copied before a login never speaks for what the login proved
// (session fixation), and a session ID never changes hands between users.
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
		return s.Rotate(ctx, w, r, cur, results)
	}
	if cur != nil {
		if _, err := s.End(ctx, cur, EndUserSwitch); err != nil {
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
	return fromRow(row)
}

// Rotate gives the browser's session cur a new cookie and records
// results: the session's level or factors changed (a step-up, a
// re-authentication). The old cookie is dead afterwards, so one copied
// before the login never speaks for what it proved (session fixation). The
// session's sid stays, and with it what relying parties know of it.
func (s *Sessions) Rotate(ctx context.Context, w http.ResponseWriter, r *http.Request, cur *Session, results []Result) (*Session, error) {
	c, err := s.Kit.Cookie(r, SessionCookie)
	if err != nil {
		return nil, fmt.Errorf("rotate session: %w", ErrFlowNotFound)
	}
	data, err := json.Marshal(sessionData{Results: results})
	if err != nil {
		return nil, fmt.Errorf("rotate session: %w", err)
	}
	authTime := AuthTime(results)
	id := s.Kit.RandomID()
	if err := s.Store.RotateSession(ctx, cur.Hash, web.Hash(c.Value), web.Hash(id), data, authTime, s.Now().UTC().Add(s.TTL)); err != nil {
		return nil, fmt.Errorf("rotate session: %w", err)
	}
	s.Kit.SetCookie(w, SessionCookie, id, 0)
	out := *cur
	out.Results, out.AuthTime = results, authTime
	return &out, nil
}

// ClearCookie drops the browser's session cookie (End does not: it may end
// another browser's session).
func (s *Sessions) ClearCookie(w http.ResponseWriter) {
	s.Kit.SetCookie(w, SessionCookie, "", -1)
}

// End is the one way a session ends, whatever the reason: it revokes the
// session, audits it and, once the change is committed (store.AfterCommit:
// at once outside a transaction), counts it and tells the relying parties
// that received tokens in it (back-channel logout). It reports false when
// the session had already ended, which then notifies nobody again.
func (s *Sessions) End(ctx context.Context, sess *Session, reason EndReason) (bool, error) {
	ok, err := s.Store.RevokeSession(ctx, sess.Hash)
	if err != nil {
		return false, fmt.Errorf("end session: %w", err)
	}
	if !ok {
		return false, nil
	}
	if s.Audit != nil {
		// Part of the change: in a transaction it commits or rolls back
		// with the revocation.
		e := store.AuditEvent{UserID: sess.UserID, Event: EventSessionEnded, Detail: "reason=" + string(reason),
			IP: sess.IP, UserAgent: sess.UserAgent, At: s.Now().UTC()}
		if err := s.Audit.Audit(ctx, e); err != nil {
			return false, fmt.Errorf("end session: %w", err)
		}
	}
	ended := *sess
	store.AfterCommit(ctx, func(ctx context.Context) {
		if s.Ended != nil {
			s.Ended(reason)
		}
		if s.Notifier != nil {
			s.Notifier.NotifyLogout(ctx, &ended)
		}
	})
	return true, nil
}

// EndUser ends every live session of a user except the one whose hash is
// keep (empty: all of them), through End; it returns how many ended.
func (s *Sessions) EndUser(ctx context.Context, userID string, reason EndReason, keep string) (int, error) {
	list, err := s.List(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	n := 0
	for _, sess := range list {
		if sess.Hash == keep {
			continue
		}
		ok, err := s.End(ctx, sess, reason)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// EventSessionEnded is the audit event End writes; its detail is
// "reason=" and the EndReason.
const EventSessionEnded = "session.ended"

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
