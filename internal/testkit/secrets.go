package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Every server StartServer runs logs, at debug level, into one process-wide
// sink, and every secret that crosses one of them (passwords and codes in
// forms, authorization codes in redirects, tokens in token responses,
// client secrets, cookies) is noted. LeakedSecrets then tells whether any
// log line holds one: the test suite's own proof that no secret is logged.
var watch = &secretWatch{secrets: map[string]string{}}

type secretWatch struct {
	mu      sync.Mutex
	logs    bytes.Buffer
	lines   int
	secrets map[string]string // value -> where it was seen
}

func (s *secretWatch) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines += bytes.Count(p, []byte("\n"))
	return s.logs.Write(p)
}

// NoteSecret records v as a secret that must never be logged; kind says
// what it is, for the report. Values shorter than 6 characters are too
// common to search for.
func NoteSecret(kind, v string) {
	// Too short, or a plain word (a test trying "password" as a weak
	// password), is not worth a search: it matches route names.
	if len(v) < 6 || len(v) < 12 && plainWord.MatchString(v) {
		return
	}
	watch.mu.Lock()
	defer watch.mu.Unlock()
	if _, ok := watch.secrets[v]; !ok {
		watch.secrets[v] = kind
	}
}

// LogToSink returns a handler writing JSON at debug level to the watched
// sink, for tests that build their own logger.
func LogToSink() slog.Handler {
	return slog.NewJSONHandler(watch, &slog.HandlerOptions{Level: slog.LevelDebug})
}

// Leak is a secret found in the logs.
type Leak struct {
	Kind, Line string
}

// LeakedSecrets searches every log line written so far for every secret
// noted so far. A secret counts as found only as a whole word, so that a
// six-digit code does not match inside a timestamp.
func LeakedSecrets() (leaks []Leak, lines, secrets int) {
	watch.mu.Lock()
	defer watch.mu.Unlock()
	text := watch.logs.String()
	values := make([]string, 0, len(watch.secrets))
	for v := range watch.secrets {
		values = append(values, v)
	}
	sort.Strings(values)
	for _, v := range values {
		// strings.Index, then the word boundary by hand: a regexp per
		// secret over megabytes of log is too slow for thousands.
		for off := 0; off < len(text); {
			i := strings.Index(text[off:], v)
			if i < 0 {
				break
			}
			start, end := off+i, off+i+len(v)
			off = start + 1
			if start > 0 && wordByte(text[start-1]) || end < len(text) && wordByte(text[end]) {
				continue
			}
			// A JSON number ("duration":623861, in nanoseconds) is no
			// code: codes are logged, if ever, as strings. Six-digit codes
			// met sub-millisecond durations often enough to fail runs.
			if start > 0 && text[start-1] == ':' && allDigits(v) {
				continue
			}
			ls := strings.LastIndexByte(text[:start], '\n') + 1
			le := strings.IndexByte(text[end:], '\n')
			line := text[ls:]
			if le >= 0 {
				line = text[ls : end+le]
			}
			leaks = append(leaks, Leak{Kind: watch.secrets[v], Line: line})
			break
		}
	}
	return leaks, watch.lines, len(watch.secrets)
}

// CheckNoSecretsLogged is for a TestMain after m.Run: it prints what it
// checked and returns 1 when a secret was logged.
func CheckNoSecretsLogged(w io.Writer) int {
	leaks, lines, secrets := LeakedSecrets()
	fmt.Fprintf(w, "secret check: %d log lines searched for %d secrets used by the tests\n", lines, secrets)
	if lines > 0 && secrets == 0 {
		fmt.Fprintln(w, "secret check: servers logged but no secret was noted; the watch is broken")
		return 1
	}
	for _, l := range leaks {
		fmt.Fprintf(w, "SECRET IN LOG (%s): %s\n", l.Kind, l.Line)
	}
	if len(leaks) > 0 {
		return 1
	}
	return 0
}

var plainWord = regexp.MustCompile(`^[a-z]+$`)

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// secretFields are the form fields whose values are secrets.
var secretFields = regexp.MustCompile(`password|secret|token|code|verifier|assertion|credential`)

// notSecret are fields matching secretFields that are public.
var notSecret = map[string]bool{
	"code_challenge": true, "code_challenge_method": true, "token_type_hint": true,
	"response_type": true, "grant_type": true,
}

// noteSecrets wraps a test server's handler: it notes the secrets of each
// request and response.
func noteSecrets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body = io.NopCloser(bytes.NewReader(body))
			if form, err := url.ParseQuery(string(body)); err == nil {
				noteForm(r.URL.Path, form)
			}
		}
		noteForm(r.URL.Path, r.URL.Query())
		if _, pw, ok := r.BasicAuth(); ok {
			NoteSecret("client secret", pw)
			if u, err := url.QueryUnescape(pw); err == nil {
				NoteSecret("client secret", u)
			}
		}
		for _, c := range r.Cookies() {
			NoteSecret("cookie "+c.Name, c.Value)
		}
		rec := &recorder{ResponseWriter: w, keep: r.URL.Path == "/oauth2/token"}
		next.ServeHTTP(rec, r)
		if loc, err := url.Parse(w.Header().Get("Location")); err == nil {
			noteForm("redirect", loc.Query())
		}
		for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
			NoteSecret("cookie "+c.Name, c.Value)
		}
		if rec.keep {
			var tok map[string]any
			if json.Unmarshal(rec.body.Bytes(), &tok) == nil {
				for _, k := range []string{"access_token", "refresh_token", "id_token"} {
					if s, ok := tok[k].(string); ok {
						NoteSecret(k, s)
					}
				}
			}
		}
	})
}

func noteForm(where string, form url.Values) {
	for k, vs := range form {
		if notSecret[k] || !secretFields.MatchString(strings.ToLower(k)) {
			continue
		}
		for _, v := range vs {
			// A test that tries the account name as a password (and is
			// refused) makes no secret of it.
			if v == form.Get("identifier") || v == form.Get("email") {
				continue
			}
			NoteSecret(k+" at "+where, v)
		}
	}
}

// recorder keeps a copy of the body when keep is set.
type recorder struct {
	http.ResponseWriter
	keep bool
	body bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.keep {
		r.body.Write(p)
	}
	return r.ResponseWriter.Write(p)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
