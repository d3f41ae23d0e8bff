// Package seal turns the configured secrets into keys: it encrypts secrets at
// rest (AES-256-GCM, the first configured secret encrypts, every one
// decrypts, so secrets can be rotated) and computes purpose-bound MACs for
// values the server hands out and must recognise later (CSRF tokens,
// return verifiers).
package seal
