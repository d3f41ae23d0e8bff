package e2e

import (
	"context"
	"strings"
	"testing"

	"latchkey/internal/testkit"
	"latchkey/provider"
	"latchkey/seal"
	"latchkey/server"
)

// TestKeyRotation: after `keys rotate` (done here the way the CLI does, by
// another process's Keys on the same database) a running server signs with
// the new key within its refresh interval, tokens signed before still
// verify, and the old key leaves the JWKS only after its tokens expired.
func TestKeyRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients, Server: server.Options{Now: clock.Now}})
		srv.AddUser(t, "kim@example.com", "kim's long password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
		b := testkit.NewBrowser(t, shopCallback)

		tok1, _, _ := signIn(t, shop, b, "kim@example.com", "kim's long password")
		raw1, _ := tok1.Extra("id_token").(string)
		kid1, _ := jwtHeader(t, raw1)["kid"].(string)

		kr, err := seal.New([]string{testkit.TestSecret}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cli := &provider.Keys{Store: srv.Store, Seal: kr, Now: clock.Now, Grace: provider.KeyGrace}
		kid2, err := cli.Rotate(ctx)
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		if kid2 == kid1 {
			t.Fatal("rotation kept the kid")
		}
		clock.Advance(6 * 1e9) // past the server's 5 s key refresh

		tok2, _, _ := signIn(t, shop, b, "", "")
		raw2, _ := tok2.Extra("id_token").(string)
		if got, _ := jwtHeader(t, raw2)["kid"].(string); got != kid2 {
			t.Fatalf("new tokens signed by %q, want the new key %q", got, kid2)
		}
		// A relying party that never saw the new key fetches the JWKS anew
		// and verifies both tokens.
		fresh := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
		for i, raw := range []string{raw1, raw2} {
			if _, err := fresh.Verifier.Verify(ctx, raw); err != nil {
				t.Fatalf("token %d does not verify after rotation: %v", i+1, err)
			}
		}
		jwks := b.Get(srv.URL + "/oauth2/jwks").Body
		if !strings.Contains(jwks, kid1) || !strings.Contains(jwks, kid2) {
			t.Fatalf("JWKS during grace lacks a key: %s", jwks)
		}
		clock.Advance(provider.KeyGrace + 10*1e9)
		jwks = b.Get(srv.URL + "/oauth2/jwks").Body
		if strings.Contains(jwks, kid1) || !strings.Contains(jwks, kid2) {
			t.Fatalf("JWKS after grace should hold only the new key: %s", jwks)
		}
	})
}
