package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"latchkey/login"
	"latchkey/login/password"
	"latchkey/store"
)

// userShow prints what an admin needs to help a user: the account, its
// factors, its live sessions and its last 20 events.
func (e *env) userShow(ctx context.Context, email string) error {
	st, _, u, err := e.userStore(ctx, email, false)
	if err != nil {
		return err
	}
	defer st.Close()
	status := "active"
	if u.Disabled {
		status = "disabled"
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "email:\t%s\n", u.Email)
	fmt.Fprintf(tw, "id:\t%s\n", u.ID)
	fmt.Fprintf(tw, "name:\t%s\n", u.Name)
	fmt.Fprintf(tw, "status:\t%s\n", status)
	fmt.Fprintf(tw, "email verified:\t%t\n", u.EmailVerified)
	fmt.Fprintf(tw, "created:\t%s\n", u.CreatedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "password:\t%s\n", map[bool]string{true: "set", false: "not set"}[u.PasswordHash != ""])
	totp := "off"
	if c, err := st.TOTPCredential(ctx, u.ID); err == nil && c.ConfirmedAt != nil {
		totp = "on"
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	fmt.Fprintf(tw, "totp:\t%s\n", totp)
	codes, _, err := st.RecoveryCodeStats(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "recovery codes left:\t%d\n", codes)
	pks, err := st.ListPasskeys(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "passkeys:\t%d\n", len(pks))
	sessions, err := st.ListUserSessions(ctx, u.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "sessions:\t%d\n", len(sessions))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range sessions {
		fmt.Fprintf(e.stdout, "  session from %s since %s, expires %s (%s)\n", s.IP, s.CreatedAt.UTC().Format(time.RFC3339),
			s.ExpiresAt.UTC().Format(time.RFC3339), s.UserAgent)
	}
	evs, err := st.Events(ctx, store.EventFilter{UserID: u.ID, Limit: 20})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "last events:")
	return printEvents(e, evs, nil)
}

// userEnable undoes user disable: the user can sign in again (their
// sessions and tokens ended at disable stay ended).
func (e *env) userEnable(ctx context.Context, email string) error {
	st, _, u, err := e.userStore(ctx, email, false)
	if err != nil {
		return err
	}
	defer st.Close()
	err = st.Transaction(ctx, func(ctx context.Context) error {
		if err := st.SetUserDisabled(ctx, u.ID, false); err != nil {
			return err
		}
		return st.Audit(ctx, store.AuditEvent{UserID: u.ID, Event: "user.enabled", Detail: "by admin (cli)"})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "enabled %s\n", u.Email)
	return nil
}

// userDelete ends the user's sessions (relying parties are told) and
// removes the account and everything it holds; the address is free again.
func (e *env) userDelete(ctx context.Context, email string) error {
	st, sessions, u, err := e.userStore(ctx, email, true)
	if err != nil {
		return err
	}
	defer st.Close()
	var ended int
	err = st.Transaction(ctx, func(ctx context.Context) error {
		var err error
		if ended, err = sessions.EndUser(ctx, u.ID, login.EndDeleted, ""); err != nil {
			return err
		}
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		return st.Audit(ctx, store.AuditEvent{UserID: u.ID, Event: "user.deleted", Detail: "by admin (cli): " + u.Email})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted %s (%s); %d sessions ended\n", u.Email, u.ID, ended)
	return nil
}

// userSetPassword replaces the password with one read from stdin and ends
// the user's sessions and tokens, as a reset by email does.
func (e *env) userSetPassword(ctx context.Context, args []string) error {
	const use = "user set-password EMAIL --password-stdin"
	var email string
	fromStdin := false
	for _, a := range args {
		switch {
		case a == "--password-stdin":
			fromStdin = true
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("%w: user set-password: unknown flag %q", errUsage, a)
		case email != "":
			return fmt.Errorf("%w: %s takes one EMAIL", errUsage, use)
		default:
			email = a
		}
	}
	if email == "" {
		return fmt.Errorf("%w: EMAIL is required: %s", errUsage, use)
	}
	if !fromStdin {
		return fmt.Errorf("%w: --password-stdin is required (a password on the command line would stay in the shell history): %s", errUsage, use)
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("--password-stdin: no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	st, sessions, u, err := e.userStore(ctx, email, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := password.CheckNew(pw, u.Email); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	hash, err := (&password.Hasher{Params: password.OWASP}).Hash(pw)
	if err != nil {
		return err
	}
	var ended int
	err = st.Transaction(ctx, func(ctx context.Context) error {
		if err := st.SetPasswordHash(ctx, u.ID, hash); err != nil {
			return err
		}
		var err error
		if ended, err = sessions.EndUser(ctx, u.ID, login.EndPasswordSet, ""); err != nil {
			return err
		}
		if err := st.DeactivateSubjectTokens(ctx, u.ID); err != nil {
			return err
		}
		return st.Audit(ctx, store.AuditEvent{UserID: u.ID, Event: "password.set", Detail: "by admin (cli)"})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "password of %s set; %d sessions ended, tokens revoked\n", u.Email, ended)
	return nil
}

// audit lists security events, newest first.
func (e *env) audit(ctx context.Context, args []string) error {
	const use = "audit [--user EMAIL] [--since DURATION] [--json]"
	var email string
	var since time.Duration
	asJSON := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func(flag string) (string, error) {
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return v, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%w: %s needs a value: %s", errUsage, flag, use)
			}
			i++
			return args[i], nil
		}
		switch {
		case a == "--json":
			asJSON = true
		case a == "--user" || strings.HasPrefix(a, "--user="):
			v, err := val("--user")
			if err != nil {
				return err
			}
			email = v
		case a == "--since" || strings.HasPrefix(a, "--since="):
			v, err := val("--since")
			if err != nil {
				return err
			}
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return fmt.Errorf("%w: --since: %q is not a positive duration such as 24h or 30m", errUsage, v)
			}
			since = d
		default:
			return fmt.Errorf("%w: audit: unknown argument %q: %s", errUsage, a, use)
		}
	}
	st, err := e.configuredStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	f := store.EventFilter{}
	if email != "" {
		u, err := st.UserByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--user: no user %s", store.NormalizeEmail(email))
		} else if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	if since > 0 {
		f.Since = st.Now().Add(-since)
	}
	evs, err := st.Events(ctx, f)
	if err != nil {
		return err
	}
	emails := map[string]string{}
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		emails[u.ID] = u.Email
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		for _, ev := range evs {
			if err := enc.Encode(map[string]any{"at": ev.At.UTC().Format(time.RFC3339Nano), "event": ev.Event,
				"user_id": ev.UserID, "email": emails[ev.UserID], "ip": ev.IP, "detail": ev.Detail}); err != nil {
				return err
			}
		}
		return nil
	}
	return printEvents(e, evs, emails)
}

func printEvents(e *env, evs []store.AuditEvent, emails map[string]string) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if emails != nil {
		fmt.Fprintln(tw, "AT\tEVENT\tUSER\tIP\tDETAIL")
	} else {
		fmt.Fprintln(tw, "AT\tEVENT\tIP\tDETAIL")
	}
	for _, ev := range evs {
		at := ev.At.UTC().Format("2006-01-02 15:04:05")
		if emails != nil {
			who := emails[ev.UserID]
			if who == "" {
				who = ev.UserID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", at, ev.Event, who, ev.IP, ev.Detail)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", at, ev.Event, ev.IP, ev.Detail)
		}
	}
	return tw.Flush()
}
