package purge

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/validate"
)

// Limits of one purge request.
const (
	MaxValues   = 1000
	MaxValueLen = 2048
)

// checkRequest checks a request, naming the field and the reason of each problem.
func checkRequest(req *purgev1.CreatePurgeRequest) error {
	var vs []apierr.FieldViolation
	bad := func(field, format string, args ...any) {
		vs = append(vs, apierr.FieldViolation{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	kind := req.GetKind()
	switch kind {
	case purgev1.PurgeKind_PURGE_KIND_URL, purgev1.PurgeKind_PURGE_KIND_PREFIX,
		purgev1.PurgeKind_PURGE_KIND_HOST, purgev1.PurgeKind_PURGE_KIND_TAG:
		if req.GetCondition() != nil {
			bad("condition", "only allowed with kind condition")
		}
		switch n := len(req.GetValues()); {
		case n == 0:
			bad("values", "at least one value is required")
		case n > MaxValues:
			bad("values", "%d values, at most %d per purge", n, MaxValues)
		}
		for i, v := range req.GetValues() {
			if reason := checkValue(kind, v); reason != "" {
				bad(fmt.Sprintf("values[%d]", i), "%s", reason)
			}
		}
	case purgev1.PurgeKind_PURGE_KIND_CONDITION:
		if len(req.GetValues()) > 0 {
			bad("values", "not allowed with kind condition (use condition)")
		}
		c := req.GetCondition()
		if c == nil {
			bad("condition", "is required with kind condition")
			break
		}
		if reason := checkHost(c.GetHost()); reason != "" {
			bad("condition.host", "%s", reason)
		}
		if _, err := validate.Regexp(c.GetPathRegex()); err != nil {
			bad("condition.path_regex", "%v", err)
		}
		if h := c.GetHeader(); h != "" {
			if r := validate.Token("header name", h); r != "" || len(h) > 256 {
				bad("condition.header", "%s", cmp.Or(r, "is more than 256 bytes long"))
			}
		}
		if c.GetHeader() == "" && c.GetHeaderValue() != "" {
			bad("condition.header_value", "needs condition.header")
		}
	default:
		bad("kind", "is required: url, prefix, host, tag or condition")
	}
	sc := req.GetScope()
	switch t := sc.GetTarget().(type) {
	case *purgev1.Scope_AppId:
		if t.AppId == "" {
			bad("scope.app_id", "is required")
		}
	case *purgev1.Scope_PartitionId:
		if t.PartitionId == "" {
			bad("scope.partition_id", "is required")
		}
	case *purgev1.Scope_All:
		if !t.All {
			bad("scope.all", "must be true when set")
		}
	default:
		bad("scope", "is required: an app, a partition or all")
	}
	if len(vs) > 0 {
		return apierr.Invalid(vs...)
	}
	return nil
}

func checkValue(kind purgev1.PurgeKind, v string) string {
	switch {
	case v == "":
		return "is required"
	case len(v) > MaxValueLen:
		return fmt.Sprintf("%d bytes, at most %d", len(v), MaxValueLen)
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Sprintf("%q contains a space or control character", v)
	}
	switch kind {
	case purgev1.PurgeKind_PURGE_KIND_URL, purgev1.PurgeKind_PURGE_KIND_PREFIX:
		s := v
		if !strings.Contains(s, "://") {
			s = "http://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Sprintf("%q is not a URL: %v", v, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Sprintf("%q: scheme %q, want http or https", v, u.Scheme)
		}
		if reason := checkHost(u.Hostname()); reason != "" {
			return fmt.Sprintf("%q: host %s", v, reason)
		}
		if kind == purgev1.PurgeKind_PURGE_KIND_PREFIX && u.RawQuery != "" {
			return fmt.Sprintf("%q: a prefix has no query", v)
		}
	case purgev1.PurgeKind_PURGE_KIND_HOST:
		if reason := checkHost(v); reason != "" {
			return fmt.Sprintf("%q: %s", v, reason)
		}
	}
	return ""
}

func checkHost(h string) string {
	if h == "" {
		return "is required"
	}
	if len(h) > 253 {
		return "longer than 253 characters"
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Sprintf("%q is not a host name (empty or over-long label)", h)
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r == '*' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Sprintf("%q is not a host name (character %q)", h, r)
			}
		}
	}
	return ""
}
