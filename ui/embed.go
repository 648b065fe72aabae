// Package ui is the web console (docs/console.md): the production bundle of
// the React app in this directory (ui/dist, built by `go tool task ui` and
// committed, so that a machine with only Go serves it), embedded in the
// strata binary and served by the API server beside the API.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// CSP is the Content-Security-Policy of every console response: scripts,
// styles, fonts and API calls from the console's own origin only, no
// plugins, no framing (clickjacking), no <base> or form tricks.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// Cache-Control values: file names under assets/ carry a content hash, so
// they never change; index.html names them and is revalidated every time.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// Content types by extension, not from the machine's mime tables (which
// differ between systems).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
	".ico": "image/x-icon", ".woff2": "font/woff2", ".woff": "font/woff", ".txt": "text/plain; charset=utf-8",
	".webmanifest": "application/manifest+json", ".map": "application/json",
}

type file struct {
	body []byte
	etag string
	ct   string
	// gz is body gzipped, when that is smaller by a tenth (text files).
	gz []byte
}

// compress gzips b at init: the bundle is a few hundred KB, compressed once.
func compress(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	if buf.Len() > len(b)*9/10 {
		return nil
	}
	return buf.Bytes()
}

// Handler serves the console: files of the bundle, and index.html for
// every other GET of a page path (the app routes in the browser), so that
// a reload of /apps/app_1 works. Mount it at "/" beside the API: the API's
// routes are more specific and win. It answers 404 for missing assets and,
// whatever the method, for paths that look like RPCs (a first segment with
// a dot, such as /strata.config.v1.ConfigService/... of a service this
// process does not serve), and 405 for other methods than GET and HEAD.
func Handler() http.Handler {
	h, err := newHandler(dist)
	if err != nil {
		panic(err) // the embedded bundle is part of the binary
	}
	return h
}

type handler struct {
	files map[string]*file // by path without the leading "/"
	index *file
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "dist")
	if err != nil {
		return nil, err
	}
	h := &handler{files: map[string]*file{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := contentTypes[path.Ext(p)]
		if ct == "" {
			ct = http.DetectContentType(b)
		}
		h.files[p] = &file{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ct: ct, gz: compress(b)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if h.index = h.files["index.html"]; h.index == nil {
		h.index = &file{body: []byte(missingBundle), etag: `"missing"`, ct: "text/html; charset=utf-8"}
	}
	return h, nil
}

const missingBundle = `<!doctype html><title>Strata console</title><p>This binary was built without the console bundle: run <code>go tool task ui</code> and rebuild.</p>`

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	p := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	f, ok := h.files[p]
	if !ok && strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
		// An RPC of a service this server does not run (or a missing
		// file): never the app, whatever the method.
		hd.Set("Cache-Control", cacheRevalidate)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch {
	case ok && p != "index.html":
		if strings.HasPrefix(p, "assets/") {
			hd.Set("Cache-Control", cacheImmutable)
		} else {
			hd.Set("Cache-Control", cacheRevalidate)
		}
	case p == "index.html":
		f = h.index
		hd.Set("Cache-Control", cacheRevalidate)
	case strings.HasPrefix(p, "assets/"):
		hd.Set("Cache-Control", cacheRevalidate)
		http.NotFound(w, r)
		return
	default:
		f = h.index
		hd.Set("Cache-Control", cacheRevalidate)
	}
	hd.Set("Content-Type", f.ct)
	body, etag := f.body, f.etag
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip: the Accept-Encoding header lists gzip without q=0.
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
