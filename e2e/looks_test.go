package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"latchkey/config"
	"latchkey/internal/testkit"
)

// ScreenshotsEnv names the directory TestPagesInChromium writes the
// README's screenshots to (scripts/screenshots.sh sets it to docs/img);
// unset, they go to a temporary directory and are only checked.
const ScreenshotsEnv = "LATCHKEY_SCREENSHOTS"

// colorScheme makes the page see prefers-color-scheme: scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return chromedp.Void{}, err
	}
}

// TestPagesInChromium visits every page at 375 px wide in light and dark
// mode: none scrolls sideways, the dark scheme really is dark, and the
// README's screenshots (the login page, /demo with its claims) are taken.
func TestPagesInChromium(t *testing.T) {
	ctx := newChromium(t)
	srv := testkit.StartServer(t, testkit.SQLiteDSN(t), testkit.ServerOptions{Configure: func(cfg *config.Config) {
		cfg.DevMode = true // the /demo relying party
	}})
	const email, pw = "looks@example.com", "a password for the looks"
	srv.AddVerifiedUser(t, email, "Lou Looks", pw)

	shots := os.Getenv(ScreenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	}
	shoot := func(name string, w, h int64) {
		t.Helper()
		browse(t, ctx, "viewport for "+name, chromedp.EmulateViewport(w, h))
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() != int(w) {
			t.Fatalf("screenshot %s: %v, width %d", name, err, img.Bounds().Dx())
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Sign in through the demo in light mode at desktop size, taking the
	// README's pictures on the way.
	browse(t, ctx, "light", colorScheme("light"), chromedp.EmulateViewport(900, 640))
	browse(t, ctx, "demo start", chromedp.Navigate(srv.URL+"/demo/start"), chromedp.WaitVisible(chromedp.CSS(`input[name=identifier]`)))
	shoot("login", 900, 640)
	browse(t, ctx, "dark login", colorScheme("dark"))
	shoot("login-dark", 900, 640)
	browse(t, ctx, "back to light", colorScheme("light"), chromedp.EmulateViewport(900, 640))
	browse(t, ctx, "sign in", chromePassword(email, pw))
	// A browser that can make passkeys is offered one first; decline it,
	// and allow the demo.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		if strings.Contains(loc, "/demo/callback") {
			break
		}
		if strings.Contains(loc, "/account/passkeys/suggest") {
			browse(t, ctx, "decline the passkey", chromedp.Click(chromedp.CSS(`button[name=decision][value=later]`)))
		}
		if strings.Contains(loc, "/consent") {
			browse(t, ctx, "allow", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, ctx, "the claims", "#claims")
	claims, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#claims').innerText`))
	if err != nil || !strings.Contains(claims, "pwd = a password") {
		t.Fatalf("/demo claims: %v %q", err, claims)
	}
	shoot("demo", 900, 900)
	demoURL, _ := chromedp.Run(ctx, chromedp.Location())

	pages := []string{"/", "/login", "/signup", "/recover", "/account", "/account/password", "/account/totp",
		"/account/recovery-codes", "/account/passkeys", "/no-such-page", "/logout", demoURL}
	for _, scheme := range []string{"light", "dark"} {
		browse(t, ctx, scheme, colorScheme(scheme), chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)))
		for _, p := range pages {
			u := p
			if strings.HasPrefix(p, "/") {
				u = srv.URL + p
			}
			browse(t, ctx, scheme+" "+p, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS(`body`)))
			got, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
				const bg = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
				const lum = (0.2126*bg[0] + 0.7152*bg[1] + 0.0722*bg[2]) / 255;
				return [document.documentElement.scrollWidth, window.innerWidth, lum, document.querySelectorAll('link[href="/brand.css"]').length];
			})()`))
			if err != nil {
				t.Fatalf("%s %s: %v", scheme, p, err)
			}
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			what := fmt.Sprintf("%s %s (at %s)", scheme, p, loc)
			if got[1] != 375 || got[0] > got[1] {
				t.Errorf("%s: scrollWidth %v > innerWidth %v: the page scrolls sideways on a phone", what, got[0], got[1])
			}
			if dark := got[2] < 0.25; dark != (scheme == "dark") {
				t.Errorf("%s: body background luminance %.2f does not follow the %s scheme", what, got[2], scheme)
			}
			if got[3] != 1 {
				t.Errorf("%s: not a Latchkey page (no brand stylesheet)", what)
			}
		}
	}
}
