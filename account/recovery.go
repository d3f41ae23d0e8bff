package account

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/login/recovery"
	"latchkey/templates"
)

// RecoveryPages are /account/recovery-codes and the codes' line on the
// overview.
//
//	GET  /account/recovery-codes  how many are left (a warning at recovery.FewLeft or fewer)
//	POST /account/recovery-codes  (recent sign-in with 2FA) a new set, shown once; the old set stops working
type RecoveryPages struct {
	Account *Service
	// TOTP is the factor the codes belong to: without it there are none.
	TOTP     login.Enrollable
	Recovery *recovery.Factor
}

var _ Section = (*RecoveryPages)(nil)

// Mount registers the routes.
func (p *RecoveryPages) Mount(r *mux.Router) {
	r.HandleFunc("/account/recovery-codes", p.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/account/recovery-codes", p.regenerate).Methods(http.MethodPost)
}

type recoveryView struct {
	On      bool
	Left    int
	Total   int
	Warning string
	Codes   []string
}

// state reads whether the user has 2FA on, how many codes are left, and
// the warning to show.
func (p *RecoveryPages) state(ctx context.Context, userID string) (recoveryView, error) {
	on, err := p.TOTP.Enrolled(ctx, userID)
	if err != nil || !on {
		return recoveryView{}, err
	}
	left, _, err := p.Recovery.Stats(ctx, userID)
	if err != nil {
		return recoveryView{}, err
	}
	v := recoveryView{On: true, Left: left, Total: recovery.Count}
	switch {
	case left == 0:
		v.Warning = "You have no recovery codes left. Make new ones, or you cannot sign in if you lose your authenticator app."
	case left <= recovery.FewLeft:
		v.Warning = "Only " + strconv.Itoa(left) + " recovery codes left. Make new ones soon."
	}
	return v, nil
}

func (p *RecoveryPages) show(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.RequireUser(w, r)
	if !ok {
		return
	}
	view, err := p.state(r.Context(), v.User.ID)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	p.Account.Page(w, http.StatusOK, "account_recovery", v, templates.Page{Title: "Recovery codes", Data: view})
}

func (p *RecoveryPages) regenerate(w http.ResponseWriter, r *http.Request) {
	v, ok := p.Account.PostedRecent(w, r, "/account/recovery-codes")
	if !ok {
		return
	}
	ctx := r.Context()
	on, err := p.TOTP.Enrolled(ctx, v.User.ID)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	if !on {
		http.Redirect(w, r, "/account/recovery-codes", http.StatusSeeOther)
		return
	}
	codes, err := p.Recovery.Generate(ctx, v.User.ID)
	if err != nil {
		p.Account.Fail(w, r, err)
		return
	}
	p.Account.Audit(r, v.User.ID, "recovery_codes.regenerated", strconv.Itoa(len(codes))+" new codes; the old ones no longer work")
	p.Account.Page(w, http.StatusOK, "account_recovery", v, templates.Page{Title: "New recovery codes",
		Notice: "New recovery codes made. Save them now.", Data: recoveryView{On: true, Codes: codes}})
}

// Overview implements Section.
func (p *RecoveryPages) Overview(ctx context.Context, userID string) (Status, error) {
	view, err := p.state(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	if !view.On {
		return Status{Title: "Recovery codes", Status: "None: they come with an authenticator app"}, nil
	}
	return Status{Title: "Recovery codes", Status: strconv.Itoa(view.Left) + " of " + strconv.Itoa(view.Total) + " left",
		Warning: view.Warning, Link: "/account/recovery-codes", LinkText: "Manage"}, nil
}
