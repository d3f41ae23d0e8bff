// Package web holds the small HTTP pieces every page handler shares: the
// browser cookie that binds flows and CSRF tokens to one browser, CSRF
// tokens, random identifiers and the client address.
package web
