package wafengine

import (
	"strings"

	"github.com/corazawaf/coraza/v3/types"
)

// Response is what Exchange.Response reads of an upstream response.
type Response interface {
	StatusCode() int
	// VisitHeaders calls fn for every response header.
	VisitHeaders(fn func(name, value string))
	// Body returns up to max bytes of the body, reading them if they were
	// not read yet, and whether the body is longer than max. The caller
	// must still send the whole body afterwards (unless the verdict blocks
	// it). Response calls it only for the content types the policy reads.
	Body(max int) (b []byte, more bool)
}

// Exchange is a request's Core Rule Set transaction kept open for its
// response (WAF.Begin). Not safe for concurrent use; Response or Close
// ends it.
type Exchange struct {
	w      *WAF
	tx     types.Transaction
	detect bool
}

// responsePolicy says whether and how much of responses Begin keeps the
// transaction for.
type responsePolicy struct {
	enabled bool
	limit   int
}

// InspectsResponses reports whether the policy inspects responses: Begin
// then returns an Exchange for requests it lets on.
func (w *WAF) InspectsResponses() bool { return w != nil && w.response.enabled && w.crs != nil }

// ResponseBodyLimit is how many response body bytes the policy inspects.
func (w *WAF) ResponseBodyLimit() int { return w.response.limit }

// Response runs the response phases of the Core Rule Set (3: status and
// headers, 4: the body of the content types rule 200007 selects, not
// compressed, up to
// response_body_limit_bytes; a longer body is inspected up to the limit)
// and the outbound anomaly threshold (rule 959100), then ends x. The
// verdict carries only the response's matches and the outbound score; a
// response over the threshold gets Block (Detect in DETECT mode), with
// Response set; below it Action is None.
func (x *Exchange) Response(r Response) (v Verdict) {
	v.Response = true
	if x == nil {
		return v
	}
	tx := x.tx
	defer x.Close()
	encoded := false
	r.VisitHeaders(func(name, value string) {
		if strings.EqualFold(name, "Content-Encoding") && !strings.EqualFold(strings.TrimSpace(value), "identity") {
			encoded = true
		}
		tx.AddResponseHeader(name, value)
	})
	it := tx.ProcessResponseHeaders(r.StatusCode(), "HTTP/1.1")
	// A compressed body is not read: the rules match text, and inflating
	// it would cost more than the inspection.
	if it == nil && !encoded && tx.IsResponseBodyAccessible() && tx.IsResponseBodyProcessable() {
		if body, _ := r.Body(x.w.response.limit); len(body) > 0 {
			it, _, _ = tx.WriteResponseBody(body)
		}
	}
	if it == nil {
		it, _ = tx.ProcessResponseBody()
	}
	collect(tx, &v, true)
	v.interrupted(it, x.detect) // below the threshold: None, as for requests
	return v
}

// Close ends x without a response (the upstream failed, the client left).
func (x *Exchange) Close() {
	if x == nil || x.tx == nil {
		return
	}
	_ = x.tx.Close()
	x.tx = nil
}
