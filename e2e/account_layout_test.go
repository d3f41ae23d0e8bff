package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"latchkey/internal/testkit"
)

// layoutProbe measures the page (scrollWidth, innerWidth), lists the boxes
// that scroll sideways inside it, and the words it shows split across two
// lines. A word is a run of non-space characters; it is split when its
// text spans line boxes at different heights.
const layoutProbe = `(() => {
	const broken = [];
	const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	for (let n = walker.nextNode(); n; n = walker.nextNode()) {
		const el = n.parentElement;
		if (!el || el.closest('script,style,[hidden]') || getComputedStyle(el).display === 'none') continue;
		for (const m of n.data.matchAll(/\S+/g)) {
			const r = document.createRange();
			r.setStart(n, m.index);
			r.setEnd(n, m.index + m[0].length);
			const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
			if (tops.size > 1) broken.push(m[0]);
		}
	}
	// A box that scrolls sideways inside the page is horizontal scroll too.
	const scrollers = [...document.querySelectorAll('body *')].filter(el =>
		['auto', 'scroll'].includes(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth + 1)
		.map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : ''));
	return JSON.stringify({scroll: document.documentElement.scrollWidth, inner: window.innerWidth, broken, scrollers, path: location.pathname});
})()`

type layout struct {
	Scroll, Inner float64
	Broken        []string
	Scrollers     []string
	Path          string
}

// TestAccountPagesFitAPhone: every /account page, filled with sessions,
// applications and activity, has no horizontal scroll at 375 px in
// Chromium, and no word is split across lines.
func TestAccountPagesFitAPhone(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := newChromium(t)
		clock := testkit.NewClock()
		bc := newBackchannel(t)
		srv := suiteServer(t, dsn, clock, bc)
		srv.AddUser(t, "dana.longname@example.com", "dana's good password")
		shop := newRP(t, srv.URL, "shop", shopSecret, shopCallback, "openid", "email", "profile", "offline_access")
		// Other browsers, with long User-Agent headers, fill the lists.
		for _, ua := range []string{
			"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
			"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		} {
			b := testkit.NewBrowser(t, shopCallback)
			b.Client.Transport = userAgent{ua}
			signIn(t, shop, b, "dana.longname@example.com", "dana's good password")
			p := b.Get(srv.URL + "/account/password")
			f := p.FormWithButton(t, "", "")
			b.Submit(f.Set("current_password", "wrong password for the activity list").Set("password", "whatever it is now"))
		}

		browse(t, ctx, "phone viewport", chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2)))
		browse(t, ctx, "sign in", chromedp.Navigate(srv.URL+"/account"), chromePassword("dana.longname@example.com", "dana's good password"))
		waitForAccount(t, ctx, srv.URL)
		for _, path := range []string{"/account", "/account/password", "/account/totp", "/account/recovery-codes", "/account/passkeys"} {
			browse(t, ctx, "open "+path, chromedp.Navigate(srv.URL+path))
			raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](layoutProbe))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var l layout
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				t.Fatal(err)
			}
			if l.Inner != 375 || l.Scroll > l.Inner {
				t.Errorf("%s (at %s): scrollWidth %v at innerWidth %v: the page scrolls sideways", path, l.Path, l.Scroll, l.Inner)
			}
			if len(l.Scrollers) > 0 {
				t.Errorf("%s (at %s): boxes scroll sideways: %q", path, l.Path, l.Scrollers)
			}
			if len(l.Broken) > 0 {
				t.Errorf("%s (at %s): words split across lines: %q", path, l.Path, l.Broken)
			}
			if path == "/account" {
				body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
				for _, want := range []string{"This browser", "Samsung Internet on Android", "Edge on Windows", "Shop", "Password not changed"} {
					if !strings.Contains(body, want) {
						t.Errorf("/account lacks %q: the layout was measured on a page without its lists", want)
					}
				}
			}
		}
	})
}

// waitForAccount declines the passkey offer if it comes and waits for the
// account overview.
func waitForAccount(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		ready, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState`))
		if strings.Contains(loc, "/account/passkeys/suggest") && ready == "complete" {
			browse(t, ctx, "decline the passkey", chromedp.Click(chromedp.CSS(`button[name=decision][value=later]`)))
		}
		if loc == base+"/account" && ready == "complete" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("did not reach /account after signing in (at %s)", loc)
}
