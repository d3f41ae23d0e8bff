// Package loadgen is the load generator the benchmark (bench/) and the
// e2e memory test share: Latchkey's built binary run as a child process
// over loopback HTTP, its memory and CPU read from /proc (Linux), a
// fixed-count concurrent runner, and a cookie-keeping browser that
// submits Latchkey's forms.
package loadgen
