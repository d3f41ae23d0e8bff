package main

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

const mib = 1024 // KiB

func report(l limits, suites []suite, binSize int64, load string, n counts, quick bool, took time.Duration) string {
	var b strings.Builder
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	mode := "full"
	if quick {
		mode = "quick (small counts; figures are rough)"
	}
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `go run ./bench` (%s run, %s).\n\n", mode, took.Round(time.Second))
	fmt.Fprintf(&b, "- date: %s\n- commit: %s\n- machine: %s, %d CPUs, GOMAXPROCS %d, %s/%s, %s\n- load average at the start (1, 5, 15 min): %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.TrimSpace(string(commit)), cpuModel(), runtime.NumCPU(),
		runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), load)
	fmt.Fprintf(&b, "- load generator: %d workers over loopback HTTP (keep-alive); fixed counts: %d fast, %d exchanges and refreshes, %d flows, %d logins, %d wrong passwords\n\n",
		n.conc, n.fast, n.slow, n.flows, n.logins, n.wrong)

	b.WriteString("## Limits (same run)\n\n| limit | figure |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| minimal HTTP handler, same load generator | %.0f req/s (p50 %s, p99 %s) |\n", l.Handler.Rate(), ms(l.Handler.P50), ms(l.Handler.P99))
	fmt.Fprintf(&b, "| one SQLite write transaction (WAL, synchronous=NORMAL) | %.0f /s |\n", l.SQLiteTx)
	fmt.Fprintf(&b, "| RS256 (RSA 2048) signatures on %d goroutines | %.0f /s |\n", runtime.GOMAXPROCS(0), l.RS256)
	fmt.Fprintf(&b, "| ES256 (P-256) signatures on %d goroutines | %.0f /s |\n", runtime.GOMAXPROCS(0), l.ES256)
	fmt.Fprintf(&b, "| argon2id m=19 MiB t=2 p=1, one hash (median) | %s → login limit GOMAXPROCS/t = %.1f /s |\n\n", ms(l.Argon2), l.LoginLimit)

	for _, s := range suites {
		sign := l.RS256
		if s.Alg == "ES256" {
			sign = l.ES256
		}
		fmt.Fprintf(&b, "## Latchkey on %s, signing %s\n\n", s.Name, s.Alg)
		b.WriteString("| operation | req/s | p50 | p99 | server CPU/op | errors | target | reached |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range s.Results {
			target, ratio := "", ""
			switch r.Name {
			case "client credentials":
				if s.Name == "SQLite" {
					target, ratio = "≥ 0.4 × SQLite tx", fmt.Sprintf("%.2f×", r.Rate()/l.SQLiteTx)
				}
			case "introspection":
				target, ratio = "≥ 0.6 × minimal handler", fmt.Sprintf("%.2f×", r.Rate()/l.Handler.Rate())
			case "refresh grants", "code exchanges":
				if s.Alg == "ES256" {
					target, ratio = "≥ 3,000/s", fmt.Sprintf("%.0f/s (%.2f× sign rate)", r.Rate(), r.Rate()/sign)
				} else {
					target, ratio = "≥ 0.75 × RS256 sign rate", fmt.Sprintf("%.2f×", r.Rate()/sign)
				}
			case "password logins":
				target = "≥ 0.8 × login limit, p99 ≤ 3 × p50"
				ratio = fmt.Sprintf("%.2f×, p99/p50 %.1f", r.Rate()/l.LoginLimit, float64(r.P99)/float64(r.P50))
			}
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %d | %s | %s |\n", r.Name, r.Rate(), ms(r.P50), ms(r.P99), ms(r.CPUPerOp), r.Errors, target, ratio)
		}
		budget := int64(runtime.GOMAXPROCS(0)+2) * 19 * mib
		fmt.Fprintf(&b, "\n| process | figure | target |\n| --- | --- | --- |\n")
		fmt.Fprintf(&b, "| binary size | %.1f MiB | lean |\n", float64(binSize)/(1<<20))
		fmt.Fprintf(&b, "| exec to ready, empty database (first start) | %s | |\n", ms(s.ReadyFresh))
		fmt.Fprintf(&b, "| exec to ready, existing database | %s | ≤ 100 ms |\n", ms(s.Ready))
		fmt.Fprintf(&b, "| idle RSS | %.1f MiB | ≤ 30 MiB |\n", float64(s.IdleKiB)/mib)
		fmt.Fprintf(&b, "| peak RSS (VmHWM) after the login tests | %.1f MiB = idle + %.1f MiB | ≤ idle + %d MiB ((GOMAXPROCS+2) × 19 MiB) |\n",
			float64(s.LoginPeakKiB)/mib, float64(s.LoginPeakKiB-s.IdleKiB)/mib, budget/mib)
		fmt.Fprintf(&b, "| peak RSS (VmHWM) at the end | %.1f MiB | |\n\n", float64(s.PeakKiB)/mib)
	}
	return b.String()
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}
