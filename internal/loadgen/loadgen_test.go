package loadgen

import (
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"testing"
)

func TestProcKiB(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("no /proc on %s", runtime.GOOS)
	}
	if rss := ProcKiB(os.Getpid(), "VmRSS"); rss <= 0 {
		t.Errorf("VmRSS of this process = %d KiB", rss)
	}
	if hwm := ProcKiB(os.Getpid(), "VmHWM"); hwm < ProcKiB(os.Getpid(), "VmRSS")/2 {
		t.Errorf("VmHWM of this process = %d KiB", hwm)
	}
	if got := ProcKiB(os.Getpid(), "NoSuchField"); got != 0 {
		t.Errorf("an unknown field = %d", got)
	}
}

// TestSubmitAndRun: the browser posts the form holding the button, with
// its hidden fields and the extras, to the form's action; Run counts a
// 5xx as a failure.
func TestSubmitAndRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(`<form method="post" action="/go?x=1&amp;y=2"><input type="hidden" name="csrf_token" value="t&amp;k">` +
				`<input name="password"><button name="method" value="password">Go</button></form>`))
			return
		}
		_ = r.ParseForm()
		if r.URL.RawQuery != "x=1&y=2" || r.PostForm.Get("csrf_token") != "t&k" || r.PostForm.Get("password") != "pw" || r.PostForm.Get("method") != "password" {
			http.Error(w, "bad form "+r.URL.RawQuery+" "+r.PostForm.Encode(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	res := Run("submit", 4, 2, 0, func(int) (int, error) {
		b := NewBrowser(http.DefaultTransport, "")
		p, err := b.Get(srv.URL)
		if err != nil {
			return 0, err
		}
		p, err = b.Submit(p, "method", "password", map[string][]string{"password": {"pw"}})
		return p.Status, err
	})
	if res.N != 4 || res.Errors != 4 || res.FirstFail != "status 503 err <nil>" {
		t.Errorf("Run = %+v, want 4 failures with status 503", res)
	}
}
