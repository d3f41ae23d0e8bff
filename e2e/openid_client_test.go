package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testkit"
)

// TestOpenIDClientRP: a second, independent relying party library
// (openid-client, OpenID-certified) completes the code flow against the
// built binary, on both databases and with both signing algorithms; it
// verifies the ID tokens' signatures against the JWKS.
func TestOpenIDClientRP(t *testing.T) {
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat("node/node_modules/openid-client/package.json")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or openid-client missing (%v): CI must run `npm ci --prefix e2e/node`", err)
		}
		t.Skipf("needs node and `npm ci --prefix e2e/node` (%v)", err)
	}
	bin := filepath.Join(t.TempDir(), "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, "latchkey/cmd/latchkey").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, be := range testkit.Backends() {
		for _, alg := range []string{"RS256", "ES256"} {
			t.Run(be.Name+"/"+alg, func(t *testing.T) { openIDClientRun(t, bin, node, be.DSN(t), alg) })
		}
	}
}

func openIDClientRun(t *testing.T, bin, node, dsn, alg string) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	issuer := fmt.Sprintf("http://localhost:%d", port)
	cfgPath := filepath.Join(dir, "latchkey.yaml")
	cfg := fmt.Sprintf(`issuer: %s
listen: 127.0.0.1:%d
database:
  dsn: "%s"
secrets:
  keys: [ "${TEST_SECRET}" ]
clients:
  - id: node
    name: Node RP
    secret: "${NODE_SECRET}"
    redirect_uris: [ "http://127.0.0.1:9/cb" ]
    scopes: [ openid, email, offline_access ]
signing:
  alg: %s
`, issuer, port, dsn, alg)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	nodeSecret := "node-secret-node-secret-node-secret-77"
	env := append(os.Environ(), "TEST_SECRET="+testkit.TestSecret, "NODE_SECRET="+nodeSecret, "LATCHKEY_CONFIG="+cfgPath)

	add := exec.Command(bin, "user", "add", "node@example.com", "--password-stdin")
	add.Env, add.Stdin = env, strings.NewReader("node user's password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	srv := exec.Command(bin, "serve")
	var logs bytes.Buffer
	srv.Env, srv.Stdout, srv.Stderr = env, &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(issuer + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rp := exec.CommandContext(ctx, node, "node/rp.mjs")
	rp.Env = append(os.Environ(), "ISSUER="+issuer, "CLIENT_ID=node", "CLIENT_SECRET="+nodeSecret,
		"REDIRECT_URI=http://127.0.0.1:9/cb", "EMAIL=node@example.com", "PASSWORD=node user's password")
	var stdout, stderr bytes.Buffer
	rp.Stdout, rp.Stderr = &stdout, &stderr
	if err := rp.Run(); err != nil {
		t.Fatalf("openid-client RP failed: %v\n%s\nserver log:\n%s", err, stderr.String(), logs.String())
	}
	var got struct {
		Alg          string `json:"alg"`
		RefreshedAlg string `json:"refreshed_alg"`
		Claims       struct {
			Sub      string   `json:"sub"`
			AMR      []string `json:"amr"`
			ACR      string   `json:"acr"`
			AuthTime int64    `json:"auth_time"`
			Email    string   `json:"email"`
		} `json:"claims"`
		Userinfo struct {
			Sub   string `json:"sub"`
			Email string `json:"email"`
		} `json:"userinfo"`
		Refreshed struct {
			Rotated bool `json:"rotated"`
			Claims  struct {
				AMR      []string `json:"amr"`
				AuthTime int64    `json:"auth_time"`
			} `json:"claims"`
		} `json:"refreshed"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("RP output: %v\n%s", err, stdout.String())
	}
	if got.Alg != alg || got.RefreshedAlg != alg {
		t.Errorf("ID tokens signed with %s and %s, want %s", got.Alg, got.RefreshedAlg, alg)
	}
	c := got.Claims
	if !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "1fa" || c.AuthTime == 0 || c.Email != "node@example.com" {
		t.Errorf("ID token claims via openid-client: %+v", c)
	}
	if got.Userinfo.Sub != c.Sub || got.Userinfo.Email != "node@example.com" {
		t.Errorf("userinfo via openid-client: %+v", got.Userinfo)
	}
	if !got.Refreshed.Rotated || !slices.Equal(got.Refreshed.Claims.AMR, c.AMR) || got.Refreshed.Claims.AuthTime != c.AuthTime {
		t.Errorf("refresh via openid-client: %+v", got.Refreshed)
	}
}
