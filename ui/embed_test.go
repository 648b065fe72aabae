package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The committed bundle is complete: index.html names assets that exist.
func TestBundleComplete(t *testing.T) {
	h := Handler().(*handler)
	idx := string(h.files["index.html"].body)
	refs := regexp.MustCompile(`(?:src|href)="/([^"]+)"`).FindAllStringSubmatch(idx, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html names %d files, want the script and the stylesheet:\n%s", len(refs), idx)
	}
	for _, m := range refs {
		if h.files[m[1]] == nil {
			t.Errorf("index.html names /%s, not in ui/dist: run go tool task ui", m[1])
		}
	}
}

func TestHandler(t *testing.T) {
	h := Handler()
	var asset string
	for p := range h.(*handler).files {
		if strings.HasPrefix(p, "assets/") && strings.HasSuffix(p, ".js") {
			asset = "/" + p
		}
	}
	for _, tc := range []struct {
		method, path string
		status       int
		ct, cache    string
		body         string // a substring
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "no-cache", `<div id="root">`},
		{"GET", "/apps/app_123", 200, "text/html; charset=utf-8", "no-cache", `<div id="root">`},
		{"HEAD", "/login", 200, "text/html; charset=utf-8", "no-cache", ""},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "no-cache", `<div id="root">`},
		{"GET", asset, 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"GET", "/favicon.svg", 200, "image/svg+xml", "no-cache", "<svg"},
		{"GET", "/assets/missing-abc.js", 404, "text/plain; charset=utf-8", "no-cache", "not found"},
		{"GET", "/strata.nope.v1.NopeService/Get", 404, "text/plain; charset=utf-8", "no-cache", "not found"},
		{"POST", "/strata.config.v1.NodeService/CreateJoinToken", 404, "text/plain; charset=utf-8", "no-cache", "not found"},
		{"POST", "/apps", 405, "text/plain; charset=utf-8", "", "method not allowed"},
		{"GET", "/../../etc/passwd", 200, "text/html; charset=utf-8", "no-cache", `<div id="root">`},
	} {
		w := get(t, h, tc.method, tc.path)
		if w.Code != tc.status || w.Header().Get("Content-Type") != tc.ct || w.Header().Get("Cache-Control") != tc.cache {
			t.Errorf("%s %s: %d %q %q, want %d %q %q", tc.method, tc.path, w.Code, w.Header().Get("Content-Type"),
				w.Header().Get("Cache-Control"), tc.status, tc.ct, tc.cache)
		}
		if !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %s: body %.200q lacks %q", tc.method, tc.path, w.Body.String(), tc.body)
		}
		if got := w.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("%s %s: CSP %q", tc.method, tc.path, got)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: headers %v", tc.method, tc.path, w.Header())
		}
	}
	// Text files go gzipped to browsers that take it, with their own ETag.
	plain := get(t, h, "GET", asset)
	w := get(t, h, "GET", asset, "Accept-Encoding", "br, gzip;q=0.8")
	if w.Header().Get("Content-Encoding") != "gzip" || w.Body.Len() >= plain.Body.Len() || w.Header().Get("ETag") == plain.Header().Get("ETag") ||
		w.Header().Get("Vary") != "Accept-Encoding" {
		t.Errorf("gzip: %v, %d bytes (plain %d)", w.Header(), w.Body.Len(), plain.Body.Len())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(zr); err != nil || !bytes.Equal(b, plain.Body.Bytes()) {
		t.Errorf("gunzipped asset differs from the plain one (%v)", err)
	}
	if w := get(t, h, "GET", asset, "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0: %v", w.Header())
	}
	// Revalidation: the ETag answers 304.
	w = get(t, h, "GET", "/")
	if w2 := get(t, h, "GET", "/", "If-None-Match", w.Header().Get("ETag")); w2.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", w2.Code)
	}
}
