package cache

import (
	"fmt"
	"strconv"
	"strings"
)

// applyRange turns a full 200 result into the 206 (or 416) a single-range
// request asks for. Multiple ranges and malformed headers get the full body,
// which RFC 9110 allows.
func applyRange(r *Request, res *Result) {
	spec := r.header("Range")
	if spec == "" {
		return
	}
	if ir := r.header("If-Range"); ir != "" && ir != res.Header.Get("Etag") {
		return
	}
	size := int64(len(res.Body))
	start, end, ok := parseRange(spec, size)
	if !ok {
		return
	}
	if start < 0 {
		res.Status, res.Body = 416, nil
		res.ContentRange = fmt.Sprintf("bytes */%d", size)
		return
	}
	res.Status = 206
	res.Body = res.Body[start : end+1]
	res.ContentRange = fmt.Sprintf("bytes %d-%d/%d", start, end, size)
}

// parseRange parses "bytes=a-b", "bytes=a-" or "bytes=-n". ok is false for
// headers to ignore; start < 0 means unsatisfiable.
func parseRange(spec string, size int64) (start, end int64, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(spec), "bytes=")
	if !found || strings.Contains(v, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(v), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" { // suffix: last n bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		if n == 0 || size == 0 {
			return -1, 0, true
		}
		n = min(n, size)
		return size - n, size - 1, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false
	}
	e := size - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return 0, 0, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return -1, 0, true
	}
	return s, e, true
}
