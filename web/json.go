package web

import (
	"encoding/json"
	"net/http"
)

// JSONError is the body of a JSON refusal: a message meant for the user,
// which the page's script shows as is.
type JSONError struct {
	Error string `json:"error"`
	// Reauthenticate, when set, is where the browser must go to prove
	// again who the user is before retrying.
	Reauthenticate string `json:"reauthenticate,omitempty"`
}

// WriteJSON answers a page's script with v: never cached, never sniffed.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"Something went wrong."}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
