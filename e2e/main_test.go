package e2e

import (
	"os"
	"testing"

	"latchkey/internal/testkit"
)

// TestMain runs the suite, then searches every line the servers logged
// (at debug level) for every password, code, token, client secret and
// cookie the suite sent or received: none may appear.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		code = testkit.CheckNoSecretsLogged(os.Stdout)
	}
	os.Exit(code)
}
