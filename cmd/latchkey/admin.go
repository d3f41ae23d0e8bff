package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"text/tabwriter"

	"latchkey/factorrecovery"
	"latchkey/login"
	"latchkey/login/lockout"
	"latchkey/login/password"
	"latchkey/provider"
	"latchkey/seal"
	"latchkey/store"
	"latchkey/web"
)

func (e *env) user(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user: want add, list, disable, unlock or reset-factors", errUsage)
	}
	switch args[0] {
	case "add":
		return e.userAdd(ctx, args[1:])
	case "list":
		if len(args) != 1 {
			return fmt.Errorf("%w: user list takes no arguments", errUsage)
		}
		return e.userList(ctx)
	case "disable":
		if len(args) != 2 {
			return fmt.Errorf("%w: user disable EMAIL", errUsage)
		}
		return e.userDisable(ctx, args[1])
	case "unlock":
		if len(args) != 2 {
			return fmt.Errorf("%w: user unlock EMAIL", errUsage)
		}
		return e.userUnlock(ctx, args[1])
	case "reset-factors":
		if len(args) != 2 {
			return fmt.Errorf("%w: user reset-factors EMAIL", errUsage)
		}
		return e.userResetFactors(ctx, args[1])
	case "show", "enable", "delete":
		if len(args) != 2 {
			return fmt.Errorf("%w: EMAIL is required: user %s EMAIL", errUsage, args[0])
		}
		return map[string]func(context.Context, string) error{"show": e.userShow, "enable": e.userEnable, "delete": e.userDelete}[args[0]](ctx, args[1])
	case "set-password":
		return e.userSetPassword(ctx, args[1:])
	default:
		return fmt.Errorf("%w: user: unknown subcommand %q", errUsage, args[0])
	}
}

func (e *env) userAdd(ctx context.Context, args []string) error {
	const use = "user add EMAIL [--password-stdin] [--name NAME] [--verified]"
	var email, name string
	fromStdin, verified := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--password-stdin":
			fromStdin = true
		case a == "--verified":
			verified = true
		case a == "--name":
			if i+1 >= len(args) {
				return fmt.Errorf("%w: --name needs a value: %s", errUsage, use)
			}
			i++
			name = args[i]
		case strings.HasPrefix(a, "--name="):
			name = strings.TrimPrefix(a, "--name=")
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("%w: user add: unknown flag %q", errUsage, a)
		case email != "":
			return fmt.Errorf("%w: user add takes one EMAIL", errUsage)
		default:
			email = a
		}
	}
	if email == "" {
		return fmt.Errorf("%w: %s", errUsage, use)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return fmt.Errorf("EMAIL: %q is not an email address", email)
	}
	name, err = store.CleanName(name)
	if err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	var hash string
	if fromStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("--password-stdin: no password on standard input")
		}
		pw := strings.TrimRight(line, "\r\n")
		if err := password.CheckNew(pw, email); err != nil {
			return fmt.Errorf("password: %w", err)
		}
		h := &password.Hasher{Params: password.OWASP}
		if hash, err = h.Hash(pw); err != nil {
			return err
		}
	}
	st, err := e.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	u := &store.User{ID: web.RandomString(nil, 16), Email: email, PasswordHash: hash, Name: name, EmailVerified: verified}
	if err := st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("EMAIL: a user with %s already exists", store.NormalizeEmail(email))
		}
		return err
	}
	detail := "by admin (cli)"
	if verified {
		detail += "; email vouched for by the admin"
	}
	_ = st.Audit(ctx, store.AuditEvent{UserID: u.ID, Event: "user.created", Detail: detail})
	fmt.Fprintf(e.stdout, "created user %s (%s)\n", u.Email, u.ID)
	if hash == "" {
		fmt.Fprintf(e.stdout, "no password set: the user chooses one at %s/recover (\"forgot password\"), which mails them a link\n",
			strings.TrimSuffix(cfg.Issuer, "/"))
	}
	return nil
}

func (e *env) userList(ctx context.Context) error {
	st, err := e.configuredStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tID\tSTATUS\tCREATED")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Email, u.ID, status, u.CreatedAt.UTC().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// userUnlock lifts a lockout and forgets the account's failures.
func (e *env) userUnlock(ctx context.Context, email string) error {
	st, _, u, err := e.userStore(ctx, email, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.ClearLockout(ctx, lockout.AccountKey(u.ID)); err != nil {
		return err
	}
	if err := st.Audit(ctx, store.AuditEvent{UserID: u.ID, Event: "user.unlocked", Detail: "by admin (cli)"}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "unlocked %s\n", u.Email)
	return nil
}

func (e *env) userDisable(ctx context.Context, email string) error {
	st, sessions, u, err := e.userStore(ctx, email, true)
	if err != nil {
		return err
	}
	defer st.Close()
	var ended int
	err = st.Transaction(ctx, func(ctx context.Context) error {
		var err error
		if ended, err = sessions.EndUser(ctx, u.ID, login.EndDisabled, ""); err != nil {
			return err
		}
		if err := st.SetUserDisabled(ctx, u.ID, true); err != nil {
			return err
		}
		if err := st.DeactivateSubjectTokens(ctx, u.ID); err != nil {
			return err
		}
		if _, err := st.RevokeUserRememberedBrowsers(ctx, u.ID); err != nil {
			return err
		}
		return st.Audit(ctx, store.AuditEvent{UserID: u.ID, Event: "user.disabled", Detail: "by admin (cli)"})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "disabled %s; %d sessions ended (relying parties notified), tokens revoked\n", u.Email, ended)
	return nil
}

// adminStore opens the configured database for a command that ends
// sessions, with the login.Sessions that does it: relying parties hear of
// sessions ended here (back-channel logout) as they do from the server.
func (e *env) adminStore(ctx context.Context) (*store.Store, *login.Sessions, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	if err := e.ensureSecrets(cfg); err != nil {
		return nil, nil, err
	}
	kr, err := seal.New(cfg.Secrets.Keys, nil)
	if err != nil {
		return nil, nil, err
	}
	clients, err := provider.NewClients(cfg.Clients)
	if err != nil {
		return nil, nil, fmt.Errorf("clients: %w", err)
	}
	issuer := cfg.IssuerURL()
	if issuer == nil {
		return nil, nil, errors.New("issuer: not a valid URL")
	}
	st, err := e.openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	keys := &provider.Keys{Store: st, Seal: kr, Now: st.Now, Grace: provider.KeyGrace}
	log := e.logger()
	return st, &login.Sessions{Store: st, Audit: st, Log: log, Now: st.Now,
		Notifier: provider.NewBackchannel(issuer.String(), clients, keys, st, log)}, nil
}

func (e *env) clientList() error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTYPE\tMIN_ACR\tGRANTS\tREDIRECT_URIS")
	for _, c := range cfg.Clients {
		kind := "confidential"
		if c.Public {
			kind = "public"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, c.MinACR,
			strings.Join(c.GrantTypes, ","), strings.Join(c.RedirectURIs, " "))
	}
	return tw.Flush()
}

func (e *env) configCheck() error {
	if _, err := e.loadConfig(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", displayPath(e.configPath))
	return nil
}

func (e *env) keysRotate(ctx context.Context) error {
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	if err := e.ensureSecrets(cfg); err != nil {
		return err
	}
	st, err := e.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	kr, err := seal.New(cfg.Secrets.Keys, nil)
	if err != nil {
		return err
	}
	grace := provider.KeyGraceFor(cfg.Tokens.IDTokenTTL.Duration)
	// No Ensure first: the new key is of the configured algorithm, so it is
	// also the switch when signing.alg changed (Ensure would add another).
	keys := &provider.Keys{Store: st, Seal: kr, Now: st.Now, Grace: grace, Alg: cfg.Signing.Alg}
	kid, err := keys.Rotate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "new signing key %s; older keys stay published for %s\n", kid, grace)
	return nil
}

// userResetFactors is the admin's last-resort account recovery: it removes
// the user's TOTP, recovery codes and passkeys and ends their sessions and
// tokens, all in one transaction, and audits it.
func (e *env) userResetFactors(ctx context.Context, email string) error {
	st, sessions, u, err := e.userStore(ctx, email, true)
	if err != nil {
		return err
	}
	defer st.Close()
	var hadTOTP bool
	var passkeys, ended int
	err = st.Transaction(ctx, func(ctx context.Context) error {
		var err error
		hadTOTP, passkeys, ended, err = resetFactors(ctx, st, sessions, u.ID)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "reset %s: removed TOTP and recovery codes: %t, passkeys removed: %d; %d sessions ended, tokens revoked\n",
		u.Email, hadTOTP, passkeys, ended)
	return nil
}

func resetFactors(ctx context.Context, st *store.Store, sessions *login.Sessions, userID string) (hadTOTP bool, passkeys, ended int, err error) {
	r, err := factorrecovery.Remove(ctx, st, sessions, userID, "by admin (cli)")
	return r.TOTP, r.Passkeys, r.Sessions, err
}

// userStore opens the configured database for a command on the user the
// EMAIL argument names, and finds that user; the caller closes the store.
// admin opens it as adminStore does, with the login.Sessions that ends the
// user's sessions (relying parties are told); otherwise sessions is nil.
func (e *env) userStore(ctx context.Context, email string, admin bool) (st *store.Store, sessions *login.Sessions, u *store.User, err error) {
	if admin {
		st, sessions, err = e.adminStore(ctx)
	} else {
		st, err = e.configuredStore(ctx)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if u, err = findUser(ctx, st, email); err != nil {
		st.Close()
		return nil, nil, nil, err
	}
	return st, sessions, u, nil
}

// findUser looks a user up by the EMAIL argument.
func findUser(ctx context.Context, st *store.Store, email string) (*store.User, error) {
	u, err := st.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("EMAIL: no user %s", store.NormalizeEmail(email))
	}
	return u, err
}
