package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLeavesOutTracingExporters: fosite's use of ory/x/otelx must not
// bring ory's tracing set-up into the server binary (go.mod replaces
// github.com/ory/x with a trimmed copy, third_party/oryx). Every package
// named here is linked in only through that set-up; one that comes back
// costs megabytes of binary and of idle RSS.
func TestBinaryLeavesOutTracingExporters(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	unwanted := []string{
		"google.golang.org/grpc",
		"go.opentelemetry.io/otel/sdk",
		"go.opentelemetry.io/otel/exporters/",
		"github.com/sirupsen/logrus",
		"github.com/gobuffalo/pop",
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, u := range unwanted {
			if strings.HasPrefix(pkg, u) {
				t.Errorf("the binary links %s", pkg)
			}
		}
	}
}
