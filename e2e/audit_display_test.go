package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"latchkey/internal/testkit"
)

// attackerUA is the browser the wrong passwords come from, so the owner
// can tell the attempts from their own sign-in.
const attackerUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// uaTransport sends every request with one User-Agent.
type uaTransport struct{ ua string }

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return http.DefaultTransport.RoundTrip(r)
}

// TestFailedAttemptsShownToOwner is issue 10's audit item: wrong passwords
// for an account, each in a fresh flow from another browser, are recorded
// with the account's user ID, so its owner sees them on /account (what,
// device, IP, time) and an admin sees them with `latchkey audit --user`.
func TestFailedAttemptsShownToOwner(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		srv := testkit.StartServer(t, dsn, testkit.ServerOptions{Configure: standardClients})
		const email, pw = "owner@example.com", "owner's good password"
		userID := srv.AddUser(t, email, pw)
		// Another account's failure must not show on this one's page.
		srv.AddUser(t, "other@example.com", "other's good password")

		const attempts = 3 // below the lockout's default of 10
		wrong := func(who string) {
			t.Helper()
			b := testkit.NewBrowser(t)
			b.Client.Transport = uaTransport{attackerUA}
			f := b.Get(srv.URL+"/login").FormWithButton(t, "method", "password")
			f.Set("identifier", who).Set("password", "guess")
			if p := b.Submit(f); p.Status != http.StatusUnauthorized {
				t.Fatalf("a wrong password for %s: %d at %s, want 401", who, p.Status, p.URL)
			}
		}
		for range attempts {
			wrong(email)
		}
		wrong("other@example.com")

		b := testkit.NewBrowser(t)
		p := passwordLogin(t, b, b.Get(srv.URL+"/login"), email, pw)
		if p.URL.Path != "/account" {
			p = b.Get(srv.URL + "/account")
		}
		if p.Status != http.StatusOK || p.URL.Path != "/account" {
			t.Fatalf("owner's /account: %d at %s", p.Status, p.URL)
		}
		items := activityLines(p)
		when := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC`)
		failed := 0
		for _, it := range items {
			if !strings.HasPrefix(it, "Failed sign-in attempt") {
				continue
			}
			failed++
			if !strings.Contains(it, "(password)") || !strings.Contains(it, "Firefox on Linux") ||
				!strings.Contains(it, "127.0.0.1") || !when.MatchString(it) {
				t.Errorf("failed attempt shown as %q, want the method, the device, the IP and the time", it)
			}
		}
		if failed != attempts {
			t.Errorf("/account shows %d failed attempts, want %d; recent activity:\n%s", failed, attempts, strings.Join(items, "\n"))
		}

		// The admin's view: the built binary against the same database.
		out := auditCLI(t, srv, "audit", "--user", email, "--json")
		failed = 0
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var ev struct {
				Event  string `json:"event"`
				UserID string `json:"user_id"`
				Email  string `json:"email"`
				IP     string `json:"ip"`
				At     string `json:"at"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("audit --json line %q: %v", sc.Text(), err)
			}
			if ev.Event != "login.failed" {
				continue
			}
			failed++
			if ev.UserID != userID || ev.Email != email || ev.IP != "127.0.0.1" || ev.At == "" || ev.Detail != "method=password" {
				t.Errorf("audit row %s, want user %s (%s), IP 127.0.0.1, a time, method=password", sc.Text(), userID, email)
			}
		}
		if failed != attempts {
			t.Errorf("latchkey audit --user %s shows %d failed attempts, want %d:\n%s", email, failed, attempts, out)
		}
		if text := auditCLI(t, srv, "audit", "--user", email); strings.Count(text, "login.failed") != attempts {
			t.Errorf("latchkey audit --user %s (table) does not list the %d failed attempts:\n%s", email, attempts, text)
		}
	})
}

// activityLines is the text of each item of /account's recent activity.
func activityLines(p *testkit.Page) []string {
	list := p.Find("ul", map[string]string{"id": "recent-activity"})
	if list == nil {
		return nil
	}
	var out []string
	for li := list.FirstChild; li != nil; li = li.NextSibling {
		if li.Type == html.ElementNode && li.Data == "li" {
			out = append(out, strings.Join(strings.Fields(nodeText(li)), " "))
		}
	}
	return out
}

func nodeText(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(nodeText(c))
		b.WriteString(" ")
	}
	return b.String()
}

// auditCLI runs the built latchkey binary with a config naming the test
// server's database, as an admin on the same host would.
func auditCLI(t *testing.T, srv *testkit.Server, args ...string) string {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "latchkey.yaml")
	cfg := fmt.Sprintf("issuer: %s\nlisten: %s\ndatabase:\n  dsn: %q\nsecrets:\n  keys: [ %q ]\n",
		srv.URL, srv.Config.Listen, srv.Config.Database.DSN, testkit.TestSecret)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(latchkeyBinary(t), append(args, "--config", cfgPath)...)
	cmd.Env = append(os.Environ(), "LATCHKEY_CONFIG=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("latchkey %v: %v\n%s", args, err, out)
	}
	return string(out)
}
