package passkey

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"

	"latchkey/login"
	"latchkey/web"
)

// Endpoints is the JSON side of passkey sign-in: the options the page's
// script needs before it can call navigator.credentials.get.
type Endpoints struct {
	Factor *Factor
	Flows  *login.Flows
	Kit    *web.Kit
	Log    *slog.Logger
}

// OptionsPath is where the sign-in page's script asks for options, with
// ?flow=ID and the flow's csrf_token in a form-encoded body.
const OptionsPath = "/login/passkey/options"

// Mount registers the routes.
func (e *Endpoints) Mount(r *mux.Router) {
	r.HandleFunc(OptionsPath, e.options).Methods(http.MethodPost)
}

// options begins an assertion for a flow: Challenge stores the SessionData
// in the flow in the same transaction that reads it.
func (e *Endpoints) options(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		web.WriteJSON(w, http.StatusBadRequest, web.JSONError{Error: "The request could not be read."})
		return
	}
	browser := e.Kit.BrowserID(w, r)
	id := r.URL.Query().Get("flow")
	fl, err := e.Flows.Get(ctx, id, browser)
	if err != nil {
		e.flowError(w, r, err)
		return
	}
	if !e.Kit.CheckCSRF(r, fl.ID) {
		web.WriteJSON(w, http.StatusForbidden, web.JSONError{Error: "This page expired. Reload it and try again."})
		return
	}
	var view any
	_, err = e.Flows.Update(ctx, id, browser, func(ctx context.Context, fl *login.Flow) ([]login.AfterCommit, error) {
		if !fl.CanLogin() {
			return nil, login.ErrWrongStep
		}
		v, after, err := e.Factor.Challenge(ctx, fl, r)
		view = v
		return after, err
	})
	switch {
	case err == nil:
		web.WriteJSON(w, http.StatusOK, view)
	case errors.Is(err, login.ErrUnavailable):
		web.WriteJSON(w, http.StatusConflict, web.JSONError{Error: err.Error()})
	default:
		e.flowError(w, r, err)
	}
}

func (e *Endpoints) flowError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, login.ErrFlowNotFound) {
		web.WriteJSON(w, http.StatusNotFound, web.JSONError{Error: "This sign-in has expired. Go back to the application and start again."})
		return
	}
	e.Log.ErrorContext(r.Context(), "passkey options", "err", err)
	web.WriteJSON(w, http.StatusServiceUnavailable, web.JSONError{Error: "Something went wrong. Please try again in a moment."})
}
