package store

import "time"

// User is an account. Email is stored lower-cased; it is the sign-in identifier.
type User struct {
	ID            string `gorm:"primaryKey;size:64"`
	Email         string `gorm:"size:320;not null;uniqueIndex"`
	EmailVerified bool   `gorm:"not null;default:false"`
	Name          string `gorm:"size:200;not null;default:''"`
	// PasswordHash is a PHC-format argon2id string; empty for password-less accounts.
	PasswordHash string `gorm:"size:255;not null;default:''"`
	Disabled     bool   `gorm:"not null;default:false"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// flowRow keeps a login/consent flow as an opaque JSON document, so factors
// can add state without a schema change.
type flowRow struct {
	ID         string    `gorm:"primaryKey;size:64"`
	Data       []byte    `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	ConsumedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (flowRow) TableName() string { return "flows" }

// Session is a browser's SSO session. The cookie holds a random ID; only
// its SHA-256 is stored, so a database leak does not hand out sessions.
type Session struct {
	IDHash string `gorm:"primaryKey;size:64"`
	// CookieHash is the SHA-256 of the cookie the browser holds now. It
	// starts equal to IDHash and changes when the session is rotated
	// (RotateSession), while IDHash stays: it is the sid relying parties
	// know the session by.
	CookieHash string    `gorm:"size:64;not null;default:'';index"`
	UserID     string    `gorm:"size:64;not null;index"`
	Data       []byte    `gorm:"not null"`
	AuthTime   time.Time `gorm:"not null"`
	UserAgent  string    `gorm:"size:300;not null;default:''"`
	IP         string    `gorm:"size:64;not null;default:''"`
	ExpiresAt  time.Time `gorm:"not null;index"`
	RevokedAt  *time.Time
	LastSeenAt time.Time `gorm:"not null"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (Session) TableName() string { return "sessions" }

// SigningKey is an ID-token signing key; the private half is sealed with the
// configured secrets.
type SigningKey struct {
	ID         string `gorm:"primaryKey;size:64"`
	Algorithm  string `gorm:"size:16;not null"`
	PrivateKey []byte `gorm:"not null"`
	CreatedAt  time.Time
	// RetireAfter is set when a newer key takes over: the key stays published
	// until then, so tokens it signed keep verifying.
	RetireAfter *time.Time
}

// OAuthToken is one fosite request stored under a token signature.
type OAuthToken struct {
	Kind      string    `gorm:"primaryKey;size:16"`
	Signature string    `gorm:"primaryKey;size:128"`
	RequestID string    `gorm:"size:64;not null;index"`
	ClientID  string    `gorm:"size:128;not null"`
	Subject   string    `gorm:"size:64;not null;default:'';index"`
	Active    bool      `gorm:"not null"`
	Data      []byte    `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
	// RotatedAt is set when a refresh token is exchanged for its successor
	// (not when it is revoked): the reuse grace is measured from it.
	RotatedAt *time.Time
	CreatedAt time.Time
}

func (OAuthToken) TableName() string { return "oauth_tokens" }

// ConsentGrant remembers which scopes a user granted a client.
type ConsentGrant struct {
	UserID    string `gorm:"primaryKey;size:64"`
	ClientID  string `gorm:"primaryKey;size:128"`
	Scopes    string `gorm:"size:1000;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// AuditEvent is one security-relevant event, shown to the user as recent
// activity and kept for admins.
type AuditEvent struct {
	ID     uint64 `gorm:"primaryKey;autoIncrement"`
	UserID string `gorm:"size:64;not null;default:'';index:idx_audit_user_at,priority:1"`
	Event  string `gorm:"size:64;not null"`
	Detail string `gorm:"size:500;not null;default:''"`
	IP     string `gorm:"size:64;not null;default:''"`
	// UserAgent is the browser the event concerns (the one that signed
	// in, or whose session ended), for describing it in plain words.
	UserAgent string    `gorm:"size:300;not null;default:''"`
	At        time.Time `gorm:"not null;index:idx_audit_user_at,priority:2"`
}

// Setting is a small key/value row for values the server must share across
// replicas and restarts.
type Setting struct {
	Key   string `gorm:"primaryKey;size:64"`
	Value []byte `gorm:"not null"`
}
