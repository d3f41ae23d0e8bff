// Package recovery is the recovery-code factor: ten single-use codes a user
// keeps on paper for the day their authenticator app is gone. A code stands
// in for the TOTP step of a sign-in (amr "otp", like TOTP; the audit log
// records recovery_code.used and the user is emailed), so the factor is
// Enrollable (unused codes remain and TOTP is on) but not a SecondFactor of
// its own.
//
// Codes are 12 characters from a 30-symbol alphabet without look-alikes
// (no 0/O, 1/I/L, U), shown in three groups of four (7KQM-R2XH-9CTP):
// about 59 bits each. They are stored only as SHA-256 hashes salted with the
// user ID, consumed by one conditional UPDATE (so a code works once, also
// across replicas), and a new set replaces the old one in one transaction.
package recovery
