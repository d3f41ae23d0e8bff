package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"latchkey/internal/loadgen"
	"latchkey/internal/testkit"
)

// Issue 10's acceptance 3, with a fixed request count: rssLogins
// wrong-password sign-ins, rssConcurrency at a time (far more than the
// argon2 pool's GOMAXPROCS slots), each in a fresh flow.
const (
	rssLogins      = 64
	rssConcurrency = 32
	// argon2MiB is one hash's memory at Latchkey's parameters.
	argon2MiB = 19
)

// TestLoginMemoryBound runs the built binary as its own process, so its
// peak RSS (VmHWM in /proc) is the server's alone, and checks that
// concurrent wrong passwords for one account keep it within
// (GOMAXPROCS + 2) × 19 MiB above idle, with no 5xx: the argon2 pool
// queues the hashes beyond GOMAXPROCS instead of running them all at once.
func TestLoginMemoryBound(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the memory bound is read from /proc/<pid>/status, which %s does not have", runtime.GOOS)
	}
	eachBackend(t, func(t *testing.T, dsn string) {
		bin := latchkeyBinary(t)
		addr, err := loadgen.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + addr
		// The lockout is set high so the wrong passwords measure hashing,
		// not the per-account lock or the per-IP throttle (5 × this).
		cfg := fmt.Sprintf("issuer: %s\nlisten: %s\ndatabase:\n  dsn: %q\nsecrets:\n  keys: [ %q ]\nlog:\n  level: error\nlockout:\n  max_failures: 1000\n",
			base, addr, dsn, testkit.TestSecret)
		cfgPath := filepath.Join(t.TempDir(), "latchkey.yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		env := append(os.Environ(), "LATCHKEY_CONFIG="+cfgPath)
		const email = "target@example.com"
		add := exec.Command(bin, "user", "add", email, "--password-stdin")
		add.Env, add.Stdin = env, strings.NewReader("the target's long password\n")
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("user add: %v\n%s", err, out)
		}
		srv, err := loadgen.Serve(bin, base, env)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		pid := srv.Pid()
		idle := loadgen.ProcKiB(pid, "VmRSS")
		if idle == 0 {
			t.Fatalf("no VmRSS for pid %d in /proc", pid)
		}

		// Fresh flows, each in its own browser, made before the load.
		tr := loadgen.NewHTTPClient(rssConcurrency).Transport
		type attempt struct {
			b *loadgen.Browser
			p loadgen.Page
		}
		attempts := make([]attempt, rssLogins)
		prep := loadgen.Run("login pages", rssLogins, 4, 0, func(i int) (int, error) {
			b := loadgen.NewBrowser(tr, "")
			p, err := b.Get(base + "/login")
			if err == nil && (p.Status != http.StatusOK || !strings.Contains(p.Body, `name="password"`)) {
				err = fmt.Errorf("GET /login: %d, no password form", p.Status)
			}
			attempts[i] = attempt{b, p}
			return p.Status, err
		})
		if prep.Errors > 0 {
			t.Fatalf("login pages: %d failed, first: %s", prep.Errors, prep.FirstFail)
		}

		statuses := make([]int, rssLogins)
		res := loadgen.Run("wrong passwords", rssLogins, rssConcurrency, pid, func(i int) (int, error) {
			a := attempts[i]
			p, err := a.b.Submit(a.p, "method", "password", url.Values{"identifier": {email}, "password": {"a wrong password"}})
			statuses[i] = p.Status
			return p.Status, err
		})
		peak := loadgen.ProcKiB(pid, "VmHWM")
		budget := int64(runtime.GOMAXPROCS(0)+2) * argon2MiB * 1024
		t.Logf("%d wrong passwords, %d at a time: idle RSS %d KiB, peak %d KiB, grew %d KiB (bound %d KiB with GOMAXPROCS %d); %s, p50 %s p99 %s",
			rssLogins, rssConcurrency, idle, peak, peak-idle, budget, runtime.GOMAXPROCS(0), res.Elapsed, res.P50, res.P99)
		if res.Errors > 0 {
			t.Errorf("%d of %d attempts failed or got a 5xx, first: %s", res.Errors, rssLogins, res.FirstFail)
		}
		for i, s := range statuses {
			if s != http.StatusUnauthorized {
				t.Errorf("attempt %d answered %d, want 401 (a wrong password)", i, s)
				break
			}
		}
		if peak-idle > budget {
			t.Errorf("peak RSS grew %d KiB above idle (%d -> %d KiB), over (GOMAXPROCS + 2) × %d MiB = %d KiB",
				peak-idle, idle, peak, argon2MiB, budget)
		}
	})
}
