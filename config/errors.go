package config

import "strings"

// FieldError is one problem with one setting. Path is the setting's place in the
// file (clients[0].redirect_uris[1]) so an admin can find it without line numbers,
// which env expansion and defaults would make misleading anyway.
type FieldError struct {
	Path string
	Msg  string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every problem found, in document order. It is an error itself so
// callers can return it as is and `config check` can print Error() directly.
type Errors []FieldError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// rootPath names the document itself when the problem is not inside any key.
const rootPath = "(root)"
