// Package server wires the packages into one http.Handler from a validated
// config and an open store. The binary and the end-to-end tests build the
// server the same way, through New.
package server
