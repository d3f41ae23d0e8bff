package server

import (
	"bufio"
	"bytes"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGuardRefusesMultipartAndLargeBodies(t *testing.T) {
	reached := 0
	h := guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		_ = r.ParseForm()
		_, _ = io.WriteString(w, r.PostForm.Get("a"))
	}), true)

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("grant_type", "authorization_code")
	_ = mw.Close()
	big := strings.Repeat("a", FormBodyLimit+1)
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) } // no Content-Length

	for _, tc := range []struct {
		name, path, ctype string
		body              io.Reader
		status            int
		reached           bool
	}{
		{"multipart oauth", "/oauth2/token", mw.FormDataContentType(), bytes.NewReader(mp.Bytes()), http.StatusUnsupportedMediaType, false},
		{"multipart page", "/login", mw.FormDataContentType(), bytes.NewReader(mp.Bytes()), http.StatusUnsupportedMediaType, false},
		{"large form", "/login", "application/x-www-form-urlencoded", strings.NewReader("a=" + big), http.StatusRequestEntityTooLarge, false},
		{"large form, no length", "/oauth2/token", "application/x-www-form-urlencoded", chunked("a=" + big), http.StatusRequestEntityTooLarge, false},
		{"large json", "/passkey/finish", "application/json", chunked(strings.Repeat("a", OtherBodyLimit+1)), http.StatusRequestEntityTooLarge, false},
		{"small form", "/login", "application/x-www-form-urlencoded", strings.NewReader("a=ok"), http.StatusOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached = 0
			req := httptest.NewRequest(http.MethodPost, tc.path, tc.body)
			req.Header.Set("Content-Type", tc.ctype)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status || (reached == 1) != tc.reached {
				t.Errorf("status %d (handler reached %v), want %d (%v): %s", rec.Code, reached == 1, tc.status, tc.reached, rec.Body)
			}
			if rec.Header().Get("Strict-Transport-Security") == "" {
				t.Error("no HSTS header with an https issuer")
			}
		})
	}
}

// TestSlowBodyIsCut: a client that sends its headers and then trickles
// nothing more is disconnected once the read timeout passes.
func TestSlowBodyIsCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	hs := HTTPServer(guard(http.NotFoundHandler(), false), Timeouts{ReadHeader: timeout, Read: timeout, Write: time.Second, Idle: time.Second})
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\na=")
	// The deadline only stops a broken test from hanging; the server must
	// close well before it.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(c)
	_, err = io.ReadAll(rd)
	elapsed := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", elapsed)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("closed after %v, want about %v", elapsed, timeout)
	}
	t.Logf("slow body connection closed after %v (read timeout %v)", elapsed, timeout)
}
