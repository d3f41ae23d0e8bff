// Package mail sends the emails Latchkey writes (sign-in links, security
// notices): the Mailer interface its users consume, and its
// implementations. The log mailer prints messages to the server log, the
// development default (mail.smtp_url: log).
package mail
