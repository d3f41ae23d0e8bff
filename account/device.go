package account

import "strings"

// Device names a browser from its User-Agent header in plain words
// ("Firefox on Linux"), for the sessions list and recent activity. It reads
// only the well-known tokens: the header is the client's to set, so the
// result is a description, never evidence.
func Device(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown browser"
	}
	browser, system := browserOf(ua), systemOf(ua)
	switch {
	case browser == "" && system == "":
		return "Unknown browser"
	case browser == "":
		return "A browser on " + system
	case system == "":
		return browser
	}
	return browser + " on " + system
}

// browserOf checks the tokens in an order that undoes the header's
// borrowing: Edge and Opera say Chrome, Chrome says Safari, and so on.
func browserOf(ua string) string {
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"Opera", "Opera"},
		{"SamsungBrowser/", "Samsung Internet"},
		{"Vivaldi/", "Vivaldi"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"},
		{"HeadlessChrome/", "Headless Chrome"},
		{"Chromium/", "Chromium"},
		{"Chrome/", "Chrome"},
		{"Safari/", "Safari"},
		{"curl/", "curl"},
		{"Go-http-client/", "A Go program"},
	} {
		if strings.Contains(ua, b.token) {
			return b.name
		}
	}
	return ""
}

func systemOf(ua string) string {
	for _, s := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"},
		{"Android", "Android"},
		{"CrOS", "ChromeOS"},
		{"Windows", "Windows"},
		{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
		{"Linux", "Linux"},
		{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
	} {
		if strings.Contains(ua, s.token) {
			return s.name
		}
	}
	return ""
}
