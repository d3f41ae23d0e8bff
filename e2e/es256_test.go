package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"latchkey/config"
	"latchkey/internal/testkit"
	"latchkey/provider"
	"latchkey/seal"
	"latchkey/server"
)

type jwksDoc struct {
	Keys []struct {
		Kid, Kty, Alg, Crv, Use string
	} `json:"keys"`
}

func fetchJWKS(t *testing.T, b *testkit.Browser, issuer string) jwksDoc {
	t.Helper()
	var set jwksDoc
	if err := json.Unmarshal([]byte(b.Get(issuer+"/oauth2/jwks").Body), &set); err != nil {
		t.Fatal(err)
	}
	return set
}

// TestES256Signing: with signing.alg ES256 the ID tokens are ES256, go-oidc
// verifies them (from the code exchange and a refresh), and the JWKS
// publishes the P-256 key. A server started before with RS256 left its key
// published beside the new one during the switch, so its tokens still
// verify, and a rotation under ES256 makes another ES256 key.
func TestES256Signing(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		clock := testkit.NewClock()
		opts := server.Options{Now: clock.Now}
		rsa := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients, Server: opts})
		rsa.AddUser(t, "eve@example.com", "eve's long password")
		shopRSA := newRP(t, rsa.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
		tokRSA, _, _ := signIn(t, shopRSA, testkit.NewBrowser(t, shopCallback), "eve@example.com", "eve's long password")
		rawRSA, _ := tokRSA.Extra("id_token").(string)
		if alg := jwtHeader(t, rawRSA)["alg"]; alg != "RS256" {
			t.Fatalf("default signing alg %v, want RS256", alg)
		}

		// The same database, now configured for ES256 (a restart with the
		// new config).
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Server: opts, Configure: func(cfg *config.Config) {
			standardClients(cfg)
			cfg.Signing.Alg = "ES256"
		}})
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "offline_access")
		b := testkit.NewBrowser(t, shopCallback)
		tok, _, c := signIn(t, shop, b, "eve@example.com", "eve's long password")
		raw, _ := tok.Extra("id_token").(string)
		hdr := jwtHeader(t, raw)
		if hdr["alg"] != "ES256" {
			t.Fatalf("ID token alg %v, want ES256", hdr["alg"])
		}
		kidEC, _ := hdr["kid"].(string)
		kidRSA, _ := jwtHeader(t, rawRSA)["kid"].(string)

		set := fetchJWKS(t, b, srv.URL)
		byKid := map[string]int{}
		for i, k := range set.Keys {
			byKid[k.Kid] = i
		}
		i, ok := byKid[kidEC]
		if !ok {
			t.Fatalf("JWKS lacks the ES256 key %s: %+v", kidEC, set)
		}
		if k := set.Keys[i]; k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" || k.Use != "sig" {
			t.Errorf("ES256 key in JWKS: %+v, want kty EC, crv P-256, alg ES256, use sig", k)
		}
		j, ok := byKid[kidRSA]
		if !ok {
			t.Fatalf("the RS256 key left the JWKS during the switch: %+v", set)
		}
		if k := set.Keys[j]; k.Kty != "RSA" || k.Alg != "RS256" {
			t.Errorf("RS256 key in JWKS: %+v", k)
		}

		// A relying party that discovers the provider now verifies the new
		// token, and the JWKS still verifies the old one's signature (the
		// test's two servers have different issuer URLs, one in production).
		fresh := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid")
		if _, err := fresh.Verifier.Verify(ctx, raw); err != nil {
			t.Errorf("ES256 ID token does not verify: %v", err)
		}
		if _, err := oidc.NewRemoteKeySet(ctx, srv.URL+"/oauth2/jwks").VerifySignature(ctx, rawRSA); err != nil {
			t.Errorf("RS256 ID token from before the switch does not verify against the JWKS: %v", err)
		}
		// Discovery advertises the configured algorithm first.
		var disco struct {
			Algs []string `json:"id_token_signing_alg_values_supported"`
		}
		json.Unmarshal([]byte(b.Get(srv.URL+"/.well-known/openid-configuration").Body), &disco)
		if !slices.Equal(disco.Algs, []string{"ES256", "RS256"}) {
			t.Errorf("discovery algs %v", disco.Algs)
		}

		// A refresh under ES256 keeps the claims and signs with ES256.
		t2, err := shop.OAuth.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		raw2, _ := t2.Extra("id_token").(string)
		idt2, err := shop.Verifier.Verify(ctx, raw2)
		if err != nil {
			t.Fatalf("refreshed ES256 ID token: %v", err)
		}
		var c2 idClaims
		idt2.Claims(&c2)
		if jwtHeader(t, raw2)["alg"] != "ES256" || c2.Sub != c.Sub || !slices.Equal(c2.AMR, c.AMR) {
			t.Errorf("refreshed ID token: alg %v, claims %+v", jwtHeader(t, raw2)["alg"], c2)
		}
		// The access token works at userinfo.
		if _, err := shop.Provider.UserInfo(ctx, oauth2.StaticTokenSource(t2)); err != nil {
			t.Errorf("userinfo: %v", err)
		}

		// `keys rotate` under ES256 (the CLI's Keys on the same database).
		kr, err := seal.New([]string{testkit.TestSecret}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cli := &provider.Keys{Store: srv.Store, Seal: kr, Now: clock.Now, Grace: provider.KeyGrace, Alg: "ES256"}
		if err := cli.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		kidNew, err := cli.Rotate(ctx)
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		clock.Advance(6 * 1e9) // past the server's key refresh
		tok3, _, _ := signIn(t, shop, b, "", "")
		raw3, _ := tok3.Extra("id_token").(string)
		if h := jwtHeader(t, raw3); h["kid"] != kidNew || h["alg"] != "ES256" {
			t.Errorf("after rotation: kid %v alg %v, want %s ES256", h["kid"], h["alg"], kidNew)
		}
		if _, err := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid").Verifier.Verify(ctx, raw3); err != nil {
			t.Errorf("ID token from the rotated key: %v", err)
		}
		// Past the grace, only the new key is left.
		clock.Advance(provider.KeyGrace + 10*1e9)
		set = fetchJWKS(t, b, srv.URL)
		if len(set.Keys) != 1 || set.Keys[0].Kid != kidNew {
			t.Errorf("JWKS after the grace: %+v, want only %s", set.Keys, kidNew)
		}
	})
}
