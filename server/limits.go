package server

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Body limits. Forms and OAuth requests are a few hundred bytes; a WebAuthn
// response with an attestation is a few kilobytes.
const (
	FormBodyLimit  = 64 << 10
	OtherBodyLimit = 256 << 10
)

// Timeouts bound how long one connection may hold the server; a slow body
// is cut at ReadTimeout.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// DefaultTimeouts are the ones latchkey serve uses.
var DefaultTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 15 * time.Second, Write: 30 * time.Second, Idle: 2 * time.Minute}

// HTTPServer is the http.Server for h with the timeouts t.
func HTTPServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
}

// guard is the layer every request passes first. It refuses multipart
// bodies: no page needs one, and fosite parses multipart on a copy of the
// request that gorilla/mux makes, so the uploaded files would stay in the
// temporary directory (golang/go#58809). It reads the body up to its limit
// before any handler runs, so an oversized body is a 413 whatever the
// handler would have made of a truncated one, and sets the common headers.
func guard(next http.Handler, https bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if https {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if strings.HasPrefix(mt, "multipart/") {
			refuse(w, r, http.StatusUnsupportedMediaType, "Multipart bodies are not accepted; send application/x-www-form-urlencoded.")
			return
		}
		limit := int64(OtherBodyLimit)
		if mt == "application/x-www-form-urlencoded" || strings.HasPrefix(r.URL.Path, "/oauth2/") {
			limit = FormBodyLimit
		}
		if r.ContentLength > limit {
			refuse(w, r, http.StatusRequestEntityTooLarge, "The request body is too large.")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			refuse(w, r, http.StatusRequestEntityTooLarge, "The request body is too large.")
			return
		case err != nil:
			// A body cut by the read timeout or a dropped client: nobody
			// is likely to read the answer, and the connection is closed.
			w.Header().Set("Connection", "close")
			refuse(w, r, http.StatusRequestTimeout, "The request body did not arrive in time.")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// refuse answers OAuth endpoints in their JSON error shape and everything
// else in plain text.
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if strings.HasPrefix(r.URL.Path, "/oauth2/") && r.URL.Path != "/oauth2/auth" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"invalid_request","error_description":"`+msg+`"}`+"\n")
		return
	}
	http.Error(w, msg, status)
}
