package main

import "latchkey/internal/loadgen"

// The load generator is shared with the e2e memory test (internal/loadgen).
type result = loadgen.Result

var (
	drain   = loadgen.Drain
	readAll = loadgen.ReadAll
	procKiB = loadgen.ProcKiB
)

// run is loadgen.Run, with the server's CPU profile recorded meanwhile
// when -perf is given.
func run(name string, n, c int, pid int, op func(i int) (int, error)) result {
	stopProfile := prof.start(name, pid)
	defer stopProfile()
	return loadgen.Run(name, n, c, pid, op)
}
