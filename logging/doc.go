// Package logging builds Latchkey's slog logger from the log settings and
// carries a request's ID into every line logged with that request's context.
//
// The level and the format (text or JSON) can change while the server runs
// (a configuration reload): loggers derived with With or WithGroup before
// the change follow it, because the handler resolves the current output at
// each record.
//
// Log inside a request with the *Context methods (log.InfoContext(r.Context(),
// ...)) so the line carries request_id.
package logging
