package testkit

import "sync"

// Race runs fn from n goroutines released at the same moment and returns
// each one's error, for tests of single-use secrets: exactly one of them
// should win.
func Race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-gate
			errs[i] = fn(i)
		})
	}
	close(gate)
	wg.Wait()
	return errs
}
