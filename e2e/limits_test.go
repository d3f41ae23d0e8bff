package e2e

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"latchkey/internal/testkit"
)

// TestOAuthBodiesLeaveNoFiles: multipart posts to the OAuth endpoints,
// with a file large enough that a multipart parser would spill it to disk,
// leave nothing in the temporary directory; a 5 MB body gets 413.
func TestOAuthBodiesLeaveNoFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: standardClients})

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("client_id", "shop")
	_ = mw.WriteField("grant_type", "authorization_code")
	fw, _ := mw.CreateFormFile("token", "big.bin")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 3<<20))
	_ = mw.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/auth", "/login"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.SetBasicAuth("shop", shopSecret)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: multipart got %d, want a 4xx refusal", path, resp.StatusCode)
		}
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left in TMPDIR: %s", e.Name())
	}

	big := "grant_type=client_credentials&pad=" + strings.Repeat("a", 5<<20)
	for _, path := range []string{"/oauth2/token", "/login", "/account"} {
		resp, err := http.Post(srv.URL+path, "application/x-www-form-urlencoded", strings.NewReader(big))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: 5 MB body got %d, want 413", path, resp.StatusCode)
		}
	}
}
