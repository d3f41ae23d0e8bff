package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// result is one load test's figures.
type result struct {
	Name      string
	N         int
	Errors    int
	Elapsed   time.Duration
	P50, P99  time.Duration
	CPUPerOp  time.Duration // the server's, from /proc; 0 when not measured
	FirstFail string
}

func (r result) rate() float64 { return float64(r.N-r.Errors) / r.Elapsed.Seconds() }

// run calls op(i) for i in [0,n) from c workers and times each call. op
// returns the HTTP status it got (or an error).
func run(name string, n, c int, pid int, op func(i int) (int, error)) result {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var errs atomic.Int64
	var firstMu sync.Mutex
	first := ""
	stopProfile := prof.start(name, pid)
	cpu0 := procCPU(pid)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				status, err := op(i)
				lat[i] = time.Since(t)
				if err != nil || status >= 500 {
					errs.Add(1)
					firstMu.Lock()
					if first == "" {
						first = fmt.Sprintf("status %d err %v", status, err)
					}
					firstMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := procCPU(pid) - cpu0
	stopProfile()
	slices.Sort(lat)
	r := result{Name: name, N: n, Errors: int(errs.Load()), Elapsed: elapsed, FirstFail: first,
		P50: lat[n/2], P99: lat[min(n-1, n*99/100)]}
	if pid > 0 {
		r.CPUPerOp = cpu / time.Duration(n)
	}
	return r
}

// drain reads and closes a response so its connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on
// every Linux platform Go supports.
const clockTick = 10 * time.Millisecond

// procCPU is a process's user+system CPU time.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parens.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}

// procKiB reads a VmXXX line of /proc/<pid>/status, in KiB.
func procKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
