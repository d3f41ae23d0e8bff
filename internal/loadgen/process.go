package loadgen

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// FreeAddr is a loopback host:port that was free a moment ago, for a
// child process to listen on.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Process is a running `latchkey serve`.
type Process struct {
	URL   string
	Cmd   *exec.Cmd
	Ready time.Duration // exec to the first 200 from /healthz
	// Logs are the process's stdout and stderr.
	Logs bytes.Buffer
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Serve runs `bin serve` with env (which names its config) and waits up
// to 30 s for baseURL's /healthz to answer 200.
func Serve(bin, baseURL string, env []string) (*Process, error) {
	p := &Process{URL: baseURL, Cmd: exec.Command(bin, "serve")}
	p.Cmd.Env, p.Cmd.Stdout, p.Cmd.Stderr = env, &p.Logs, &p.Logs
	t0 := time.Now()
	if err := p.Cmd.Start(); err != nil {
		return nil, err
	}
	probe := &http.Client{Timeout: time.Second}
	for {
		resp, err := probe.Get(baseURL + "/healthz")
		if err == nil {
			Drain(resp)
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(t0) > 30*time.Second {
			p.Stop()
			return nil, fmt.Errorf("server not ready after 30 s:\n%s", p.Logs.String())
		}
		time.Sleep(500 * time.Microsecond)
	}
	p.Ready = time.Since(t0)
	return p, nil
}

// Stop interrupts the process and waits for it, killing it after 10 s.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
	}
}
