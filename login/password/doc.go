// Package password is the password factor (amr "pwd"): argon2id hashing at
// OWASP's recommended parameters, transparent rehashing when the parameters
// change, and verification that costs the same for unknown accounts, so
// timing does not reveal which emails exist.
package password
