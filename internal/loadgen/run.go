package loadgen

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one load test's figures.
type Result struct {
	Name      string
	N         int
	Errors    int
	Elapsed   time.Duration
	P50, P99  time.Duration
	CPUPerOp  time.Duration // the server's, from /proc; 0 when not measured
	FirstFail string
}

// Rate is successful operations per second.
func (r Result) Rate() float64 { return float64(r.N-r.Errors) / r.Elapsed.Seconds() }

// Run calls op(i) for i in [0,n) from c workers and times each call. op
// returns the HTTP status it got (or an error); an error or a 5xx counts
// as a failure. pid, when > 0, is the server whose CPU time is measured.
func Run(name string, n, c int, pid int, op func(i int) (int, error)) Result {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var errs atomic.Int64
	var firstMu sync.Mutex
	first := ""
	cpu0 := ProcCPU(pid)
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
	cpu := ProcCPU(pid) - cpu0
	slices.Sort(lat)
	r := Result{Name: name, N: n, Errors: int(errs.Load()), Elapsed: elapsed, FirstFail: first,
		P50: lat[n/2], P99: lat[min(n-1, n*99/100)]}
	if pid > 0 {
		r.CPUPerOp = cpu / time.Duration(n)
	}
	return r
}

// Drain reads and closes a response so its connection is reused.
func Drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// ReadAll reads and closes a response's body.
func ReadAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// NewHTTPClient is a client for conc concurrent callers that keeps their
// connections and does not follow redirects.
func NewHTTPClient(conc int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc * 2
	tr.MaxConnsPerHost = 0
	return &http.Client{Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
