// Package passkeytest is a software WebAuthn authenticator for tests: it
// answers registration and sign-in options the way a browser and a
// platform authenticator would, with real bytes — CBOR attestation objects
// (format "none"), COSE ES256 public keys, authenticator data and ECDSA
// P-256 signatures over it — so the server's verification runs unchanged.
// Its knobs produce the faults tests need: another origin or RP ID, no
// user verification, a counter that goes back.
package passkeytest
