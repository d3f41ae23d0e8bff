package testkit

import (
	"strings"
	"testing"
)

// TestSecretWatchFindsLeaks: the watch finds a noted secret as a whole
// word and only then.
func TestSecretWatchFindsLeaks(t *testing.T) {
	before, _, _ := LeakedSecrets()
	NoteSecret("planted", "planted-secret-4242")
	NoteSecret("code", "734912")
	watch.Write([]byte("level=INFO msg=request duration=1.734912ms\n"))
	watch.Write([]byte(`{"level":"INFO","msg":"request","duration":734912}` + "\n"))
	if leaks, _, _ := LeakedSecrets(); len(leaks) != len(before) {
		t.Fatalf("a code inside a number counted as a leak: %v", leaks)
	}
	watch.Write([]byte(`{"level":"WARN","msg":"oops","value":"planted-secret-4242","code":"734912"}` + "\n"))
	leaks, _, _ := LeakedSecrets()
	if len(leaks) != len(before)+2 {
		t.Fatalf("leaks %v, want two more than %v", leaks, before)
	}
	// Take the planted lines out again, so the process's real check (if
	// any) is not fooled.
	watch.mu.Lock()
	watch.logs.Reset()
	delete(watch.secrets, "planted-secret-4242")
	delete(watch.secrets, "734912")
	watch.mu.Unlock()
	for _, l := range leaks {
		if !strings.Contains(l.Line, `"msg":"oops"`) {
			t.Errorf("leak line %q", l.Line)
		}
	}
}
