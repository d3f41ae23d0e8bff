// Package server wires the packages into one http.Handler from a validated
// config and an open store. The binary and the end-to-end tests build the
// server the same way, through New.
//
// New is a pure constructor: everything a config decides lives in the Server
// it returns, so a reload builds a new Server and swaps it into Live in one
// atomic step; requests already running finish on the old one. Every route
// is mounted through one thin layer (http.go) that gives the request its ID
// (X-Request-Id, and request_id in every log line made with its context),
// believes forwarded headers only from trusted_proxies, bounds the body,
// sets the common headers, and writes one log line and one latency
// observation per request, labelled by route template.
package server
