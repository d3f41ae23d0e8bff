package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// notesMark starts the hand-written part of BENCHMARKS.md.
const notesMark = "## Notes (hand-written; kept by new runs)"

// counts are the fixed request counts of one run.
type counts struct {
	fast, slow, flows, logins, wrong, signs, hashes, conc int
}

var (
	full  = counts{fast: 10000, slow: 2000, flows: 150, logins: 200, wrong: 200, signs: 20000, hashes: 9, conc: 16}
	quick = counts{fast: 1000, slow: 200, flows: 30, logins: 40, wrong: 64, signs: 2000, hashes: 3, conc: 16}
)

// suite is Latchkey's figures on one database and algorithm.
type suite struct {
	Name, Alg                      string
	Results                        []result
	ReadyFresh, Ready              time.Duration
	IdleKiB, LoginPeakKiB, PeakKiB int64
}

func main() {
	quickFlag := flag.Bool("quick", false, "small counts (CI); does not write BENCHMARKS.md unless -out is given")
	out := flag.String("out", "", "where to write the report (default BENCHMARKS.md; none with -quick)")
	pg := flag.String("postgres", "", "also run on this PostgreSQL DSN (an empty database)")
	perfDir := flag.String("perf", "", "record each load test's server CPU profile with Linux perf into this directory")
	flag.Parse()
	log.SetFlags(0)
	n := full
	if *quickFlag {
		n = quick
	} else if *out == "" {
		*out = "BENCHMARKS.md"
	}
	t0 := time.Now()
	dir, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/latchkey").CombinedOutput(); err != nil {
		log.Fatalf("build: %v\n%s", err, out)
	}
	st, _ := os.Stat(bin)
	load := loadavg()

	log.Print("measuring the limits")
	lim, err := measureLimits(dir, n)
	if err != nil {
		log.Fatal(err)
	}
	var suites []suite
	type target struct{ name, dsn, alg string }
	runs := []target{
		{"SQLite", "sqlite://" + filepath.Join(dir, "rs.db"), "RS256"},
		{"SQLite", "sqlite://" + filepath.Join(dir, "es.db"), "ES256"},
	}
	if *pg != "" {
		runs = append(runs, target{"PostgreSQL", *pg, "RS256"}, target{"PostgreSQL", *pg, "ES256"})
	}
	if *perfDir != "" {
		if err := os.MkdirAll(*perfDir, 0o755); err != nil {
			log.Fatal(err)
		}
		prof = &profiler{dir: *perfDir}
	}
	for _, r := range runs {
		log.Printf("Latchkey on %s with %s", r.name, r.alg)
		if prof != nil {
			prof.prefix = slug(r.name + "-" + r.alg)
		}
		s, err := runSuite(bin, filepath.Join(dir, r.name+r.alg), r.dsn, r.alg, n)
		if err != nil {
			log.Fatalf("%s %s: %v", r.name, r.alg, err)
		}
		s.Name = r.name
		suites = append(suites, s)
	}
	rep := report(lim, suites, st.Size(), load, n, *quickFlag, time.Since(t0))
	fmt.Print(rep)
	if *out != "" {
		// A hand-written analysis after notesMark survives a new run.
		if old, err := os.ReadFile(*out); err == nil {
			if i := strings.Index(string(old), notesMark); i >= 0 {
				rep += "\n" + string(old[i:])
			}
		}
		if err := os.WriteFile(*out, []byte(rep), 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s", *out)
	}
	failed := false
	// Issue 10's bound: the argon2 pool keeps concurrent logins, right or
	// wrong, within (GOMAXPROCS + 2) × 19 MiB above idle.
	budget := int64(runtime.GOMAXPROCS(0)+2) * 19 * mib
	for _, s := range suites {
		if grew := s.LoginPeakKiB - s.IdleKiB; grew > budget {
			log.Printf("%s %s: peak RSS under login load grew %d KiB above idle, over the %d KiB bound", s.Name, s.Alg, grew, budget)
			failed = true
		}
	}
	for _, s := range suites {
		for _, r := range s.Results {
			if r.Errors > 0 {
				log.Printf("%s %s %s: %d of %d failed, first: %s", s.Name, s.Alg, r.Name, r.Errors, r.N, r.FirstFail)
				failed = true
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}

func runSuite(bin, dir, dsn, alg string, n counts) (suite, error) {
	s := suite{Alg: alg}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return s, err
	}
	email := "bench-" + randomString(8) + "@example.com"
	// A first start on the empty database, then the measured one on the
	// existing database.
	first, err := start(bin, dir, dsn, alg, email, n.conc, true)
	if err != nil {
		return s, err
	}
	s.ReadyFresh = first.Ready
	first.stop()
	srv, err := start(bin, dir, dsn, alg, email, n.conc, false)
	if err != nil {
		return s, err
	}
	defer srv.stop()
	s.Ready, s.IdleKiB = srv.Ready, srv.IdleKiB
	pid := srv.pid()
	c := n.conc

	// Password logins first, so the peak RSS read after them is theirs.
	pages, err := prepare(n.logins, c, func() (any, error) {
		b, p, a, err := srv.loginPage()
		return loginCase{b, p, a}, err
	})
	if err != nil {
		return s, fmt.Errorf("login pages: %w", err)
	}
	codes := make([]codeCase, n.logins)
	s.Results = append(s.Results, run("password logins", n.logins, c, pid, func(i int) (int, error) {
		lc := pages[i].(loginCase)
		p, err := lc.b.signIn(lc.p, email)
		if err == nil && p.Code == "" {
			err = fmt.Errorf("no code")
		}
		codes[i] = codeCase{p.Code, lc.a.Verifier}
		return p.Status, err
	}))
	wrong, err := prepare(n.wrong, c, func() (any, error) {
		b, p, a, err := srv.loginPage()
		return loginCase{b, p, a}, err
	})
	if err != nil {
		return s, err
	}
	s.Results = append(s.Results, run("wrong passwords (unknown accounts)", n.wrong, 2*c, pid, func(i int) (int, error) {
		lc := wrong[i].(loginCase)
		p, err := lc.b.submit(lc.p, "method", "password", map[string][]string{
			"identifier": {"nobody-" + randomString(8) + "@example.com"}, "password": {"wrong password"}})
		if err == nil && p.Status != 401 {
			err = fmt.Errorf("status %d, want 401", p.Status)
		}
		return p.Status, err
	}))
	s.LoginPeakKiB = procKiB(pid, "VmHWM")

	// Full authorization-code flows with a password sign-in.
	flows, err := prepare(n.flows, c, func() (any, error) { return srv.browser(), nil })
	if err != nil {
		return s, err
	}
	s.Results = append(s.Results, run("full code flows (sign-in + exchange)", n.flows, c, pid, func(i int) (int, error) {
		b := flows[i].(*browser)
		a := srv.authURL()
		p, err := b.get(a.URL)
		if err != nil {
			return 0, err
		}
		if p, err = b.signIn(p, email); err != nil {
			return p.Status, err
		}
		st, m, err := srv.exchange(p.Code, a.Verifier)
		if err == nil && m["id_token"] == nil {
			err = fmt.Errorf("no id_token: %v", m)
		}
		return st, err
	}))

	// Codes minted beforehand through the signed-in browsers of real logins.
	signedIn := pages[0].(loginCase).b
	extra, err := prepare(n.slow, c, func() (any, error) {
		a := srv.authURL()
		p, err := signedIn.get(a.URL)
		if err == nil && p.Code == "" {
			err = fmt.Errorf("no code for a signed-in browser: %d at %v:\n%.800s", p.Status, p.URL, p.Body)
		}
		return codeCase{p.Code, a.Verifier}, err
	})
	if err != nil {
		return s, err
	}
	refresh := make([]string, n.slow)
	s.Results = append(s.Results, run("code exchanges", n.slow, c, pid, func(i int) (int, error) {
		cc := extra[i].(codeCase)
		st, m, err := srv.exchange(cc.code, cc.verifier)
		refresh[i], _ = m["refresh_token"].(string)
		if err == nil && refresh[i] == "" {
			err = fmt.Errorf("no refresh token: %v", m)
		}
		return st, err
	}))
	s.Results = append(s.Results, run("refresh grants", n.slow, c, pid, func(i int) (int, error) {
		st, m, err := srv.tokenJSON(map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {refresh[i]}}, "shop", shopSecret)
		if err == nil && m["id_token"] == nil {
			err = fmt.Errorf("no id_token: %v", m)
		}
		return st, err
	}))

	tokens := make([]string, n.fast)
	s.Results = append(s.Results, run("client credentials", n.fast, c, pid, func(i int) (int, error) {
		st, m, err := srv.tokenJSON(map[string][]string{"grant_type": {"client_credentials"}}, "machine", machineSecret)
		tokens[i], _ = m["access_token"].(string)
		if err == nil && tokens[i] == "" {
			err = fmt.Errorf("no access token: %v", m)
		}
		return st, err
	}))
	s.Results = append(s.Results, run("introspection", n.fast, c, pid, func(i int) (int, error) {
		resp, err := srv.post("/oauth2/introspect", map[string][]string{"token": {tokens[i]}}, "machine", machineSecret)
		if err != nil {
			return 0, err
		}
		body := readAll(resp)
		if !strings.Contains(body, `"active":true`) {
			err = fmt.Errorf("not active: %s", body)
		}
		return resp.StatusCode, err
	}))
	s.PeakKiB = procKiB(pid, "VmHWM")
	return s, nil
}

type loginCase struct {
	b *browser
	p page
	a authStart
}

type codeCase struct{ code, verifier string }

// prepare makes n inputs for a test beforehand, c at a time.
func prepare(n, c int, mk func() (any, error)) ([]any, error) {
	out := make([]any, n)
	var mu sync.Mutex
	var first error
	r := run("prepare", n, c, 0, func(i int) (int, error) {
		v, err := mk()
		out[i] = v
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
		return 200, err
	})
	if r.Errors > 0 {
		return nil, first
	}
	return out, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}
