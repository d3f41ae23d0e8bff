package login

import (
	"errors"
	"net/http"

	"latchkey/metrics"
	"latchkey/templates"
)

// enroller is the Enroller for method m, if there is one.
func (p *Pages) enroller(m Method) (Enroller, bool) {
	for _, e := range p.Enrollers {
		if e.Method() == m {
			return e, true
		}
	}
	return nil, false
}

func (p *Pages) enrollPage(w http.ResponseWriter, r *http.Request, e Enroller, fl *Flow, browser string, status int, errMsg string) {
	ctx := r.Context()
	page, err := e.EnrollPage(ctx, fl, p.Emails(ctx, fl.UserID), p.Now().UTC())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.Render.Render(w, status, page.Page, templates.Page{Title: page.Title, Error: errMsg, Notice: page.Notice,
		CSRF: p.Kit.CSRFToken(browser, fl.ID), Client: fl.ClientID, Data: page.Data})
}

// enroll confirms an in-flow enrollment (POST /login/enroll?flow=). Only
// a sign-in flow whose user is known and proved a factor in it, at the
// step Next says is enrollment, may set a factor up here: nobody adds a
// factor to an account they have not signed in to.
func (p *Pages) enroll(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	browser := p.Kit.BrowserID(w, r)
	fl, ok := p.postedFlow(w, r, browser)
	if !ok {
		return
	}
	d, err := p.decide(ctx, r, fl)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	e, ok := p.enroller(d.Enroll)
	if !ok || fl.UserID == "" || !provedBy(fl, fl.UserID) || Next(fl, nil, Client{Decision: d}) != StepEnroll {
		p.renderStep(w, r, http.StatusBadRequest, fl, browser, "Choose one of the sign-in methods shown.")
		return
	}
	now := p.Now().UTC()
	res, page, err := e.Enroll(ctx, r, fl, p.Emails(ctx, fl.UserID), now)
	if err == nil && res.UserID != fl.UserID {
		err = ErrInvalid
	}
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			p.fail(w, r, err)
			return
		}
		metrics.From(ctx).SignIn(string(e.Method()), metrics.Failure)
		updated, ok := p.countFailure(w, r, fl, browser)
		if !ok {
			return
		}
		p.enrollPage(w, r, e, updated, browser, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := p.Flows.Apply(ctx, fl.ID, browser, func(fl *Flow) error { return fl.AddResult(res) }); err != nil {
		p.expired(w, r, err)
		return
	}
	metrics.From(ctx).SignIn(string(e.Method()), metrics.Success)
	p.Render.Render(w, http.StatusOK, page.Page, templates.Page{Title: page.Title, Notice: page.Notice,
		CSRF: p.Kit.CSRFToken(browser, fl.ID), Client: fl.ClientID, Data: page.Data})
}

// provedBy tells whether the flow holds a factor user proved.
func provedBy(fl *Flow, user string) bool {
	for _, res := range fl.Results {
		if res.UserID == user {
			return true
		}
	}
	return false
}
