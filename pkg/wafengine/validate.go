package wafengine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/rules"
)

// Limits of a policy; Validate refuses a policy beyond them.
const (
	MaxCustomRules     = 1000
	MaxCustomRuleID    = 64
	MaxExclusions      = 500
	MaxListItems       = 100 // ids, tags, prefixes, targets, extensions of one list
	MaxItemLength      = 256
	MaxBodyLimitBytes  = 10 << 20
	DefaultBodyLimit   = 128 << 10
	MaxDescription     = 512
	defaultBlockStatus = 403
)

// fieldError is an error at a field path (`custom_rules[3] (id "x").when`).
type fieldError struct {
	field string
	msg   string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func errf(field, format string, a ...any) error {
	return &fieldError{field, fmt.Sprintf(format, a...)}
}

// ruleField names custom rule i by index and id.
func ruleField(i int, id string) string {
	if id == "" {
		return fmt.Sprintf("custom_rules[%d]", i)
	}
	return fmt.Sprintf("custom_rules[%d] (id %q)", i, id)
}

// check validates the fields Coraza does not see (custom rules, whitelist,
// limits) and the shape of the ones it does (exclusions), so that the
// generated directives hold only checked values.
func check(p *wafv1.WafPolicy) error {
	if p == nil {
		return errors.New("policy: is required")
	}
	var errs []error
	if m := p.GetMode(); wafv1.WafMode_name[int32(m)] == "" {
		errs = append(errs, errf("mode", "unknown mode %d", m))
	}
	if pl := p.GetParanoiaLevel(); pl > 4 {
		errs = append(errs, errf("paranoia_level", "is %d: must be 1-4 (0: 1)", pl))
	}
	for name, v := range map[string]uint32{"inbound_threshold": p.GetInboundThreshold(), "outbound_threshold": p.GetOutboundThreshold()} {
		if v > 10000 {
			errs = append(errs, errf(name, "is %d: must be at most 10000", v))
		}
	}
	if b := p.GetRequestBody(); b.GetLimitBytes() > MaxBodyLimitBytes {
		errs = append(errs, errf("request_body.limit_bytes", "is %d: must be at most %d (10 MiB)", b.GetLimitBytes(), MaxBodyLimitBytes))
	}
	if n := p.GetResponseBodyLimitBytes(); n > MaxBodyLimitBytes {
		errs = append(errs, errf("response_body_limit_bytes", "is %d: must be at most %d (10 MiB)", n, MaxBodyLimitBytes))
	}
	if n := len(p.GetExclusions()); n > MaxExclusions {
		errs = append(errs, errf("exclusions", "has %d items: at most %d", n, MaxExclusions))
	}
	for i, ex := range p.GetExclusions() {
		errs = append(errs, checkExclusion(fmt.Sprintf("exclusions[%d]", i), ex)...)
	}
	errs = append(errs, checkWhitelist(p.GetWhitelist())...)
	if n := len(p.GetCustomRules()); n > MaxCustomRules {
		errs = append(errs, errf("custom_rules", "has %d rules: at most %d", n, MaxCustomRules))
	}
	seen := map[string]int{}
	for i, r := range p.GetCustomRules() {
		f := ruleField(i, r.GetId())
		if msg := ruleIDProblem(r.GetId()); msg != "" {
			errs = append(errs, errf(f+".id", "%s", msg))
		} else if j, dup := seen[r.GetId()]; dup {
			errs = append(errs, errf(f+".id", "repeats custom_rules[%d]", j))
		} else {
			seen[r.GetId()] = i
		}
		if err := rules.Validate(r.GetWhen()); err != nil {
			errs = append(errs, errf(f+".when", "%v", err))
		} else if strings.TrimSpace(r.GetWhen()) == "" {
			errs = append(errs, errf(f+".when", "is required (a rule that matches every request is a policy mode, not a rule)"))
		}
		switch r.GetAction() {
		case wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK, wafv1.WafRuleAction_WAF_RULE_ACTION_LOG,
			wafv1.WafRuleAction_WAF_RULE_ACTION_CHALLENGE, wafv1.WafRuleAction_WAF_RULE_ACTION_ALLOW:
		case wafv1.WafRuleAction_WAF_RULE_ACTION_UNSPECIFIED:
			errs = append(errs, errf(f+".action", "is required: block, log, challenge or allow"))
		default:
			errs = append(errs, errf(f+".action", "unknown action %d", r.GetAction()))
		}
		if s := r.GetStatus(); s != 0 {
			if r.GetAction() != wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK {
				errs = append(errs, errf(f+".status", "is set but the action is not block"))
			} else if s < 400 || s > 599 {
				errs = append(errs, errf(f+".status", "is %d: must be 400-599", s))
			}
		}
		if len(r.GetDescription()) > MaxDescription {
			errs = append(errs, errf(f+".description", "is %d bytes: at most %d", len(r.GetDescription()), MaxDescription))
		}
	}
	return errors.Join(errs...)
}

// ruleIDProblem says why id cannot name a custom rule, or "".
func ruleIDProblem(id string) string {
	if id == "" {
		return "is required"
	}
	if len(id) > MaxCustomRuleID {
		return fmt.Sprintf("is %d characters: at most %d", len(id), MaxCustomRuleID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Sprintf("%q: only a-z, 0-9 and '-' are allowed", id)
		}
	}
	return ""
}

func checkExclusion(f string, ex *wafv1.RuleExclusion) []error {
	var errs []error
	if len(ex.GetRuleIds()) == 0 && len(ex.GetTags()) == 0 {
		errs = append(errs, errf(f, "names no rule_ids and no tags"))
	}
	errs = append(errs, checkList(f+".rule_ids", ex.GetRuleIds(), idOrRangeProblem)...)
	errs = append(errs, checkList(f+".tags", ex.GetTags(), tagProblem)...)
	errs = append(errs, checkList(f+".path_prefixes", ex.GetPathPrefixes(), pathPrefixProblem)...)
	errs = append(errs, checkList(f+".targets", ex.GetTargets(), targetProblem)...)
	return errs
}

func checkWhitelist(w *wafv1.Whitelist) []error {
	var errs []error
	errs = append(errs, checkList("whitelist.extensions", w.GetExtensions(), extensionProblem)...)
	errs = append(errs, checkList("whitelist.path_prefixes", w.GetPathPrefixes(), pathPrefixProblem)...)
	if err := rules.Validate(w.GetWhen()); err != nil {
		errs = append(errs, errf("whitelist.when", "%v", err))
	}
	return errs
}

func checkList(f string, items []string, problem func(string) string) []error {
	if len(items) > MaxListItems {
		return []error{errf(f, "has %d items: at most %d", len(items), MaxListItems)}
	}
	var errs []error
	for i, s := range items {
		if len(s) > MaxItemLength {
			errs = append(errs, errf(fmt.Sprintf("%s[%d]", f, i), "is %d bytes: at most %d", len(s), MaxItemLength))
		} else if msg := problem(s); msg != "" {
			errs = append(errs, errf(fmt.Sprintf("%s[%d]", f, i), "%s", msg))
		}
	}
	return errs
}

// parseIDRange parses "920350" or "942100-942999".
func parseIDRange(s string) (lo, hi int, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := lo, error(nil)
	if isRange {
		hi, err2 = strconv.Atoi(b)
	}
	if err1 != nil || err2 != nil || lo <= 0 || hi < lo || strings.HasPrefix(a, "+") || strings.HasPrefix(b, "+") {
		return 0, 0, false
	}
	return lo, hi, true
}

func idOrRangeProblem(s string) string {
	lo, hi, ok := parseIDRange(s)
	if !ok {
		return fmt.Sprintf("%q: want a rule id (920350) or a range (942100-942999)", s)
	}
	if !crs().anyID(lo, hi) {
		if lo == hi {
			return fmt.Sprintf("%q: the Core Rule Set has no rule with this id", s)
		}
		return fmt.Sprintf("%q: the Core Rule Set has no rule in this range", s)
	}
	return ""
}

func tagProblem(s string) string {
	if s == "" || strings.ContainsAny(s, "'\"\\ ;,\n\r\t") {
		return fmt.Sprintf("%q: a tag has no spaces, quotes, ',', ';' or '\\'", s)
	}
	if !crs().tags[s] {
		return fmt.Sprintf("%q: no Core Rule Set rule has this tag (e.g. attack-sqli, attack-xss, paranoia-level/2)", s)
	}
	return ""
}

func pathPrefixProblem(s string) string {
	if !strings.HasPrefix(s, "/") {
		return fmt.Sprintf("%q: must start with '/'", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' {
			return fmt.Sprintf("%q: no spaces, quotes, backslashes or control characters", s)
		}
	}
	return ""
}

func extensionProblem(s string) string {
	if s == "" || len(s) > 16 {
		return fmt.Sprintf("%q: 1-16 characters, without the dot", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return fmt.Sprintf("%q: letters and digits only, without the dot", s)
		}
	}
	return ""
}

// targetCollections are the collections an exclusion target may name.
var targetCollections = []string{"ARGS", "ARGS_GET", "ARGS_POST", "ARGS_NAMES", "REQUEST_COOKIES", "REQUEST_COOKIES_NAMES", "REQUEST_HEADERS", "XML", "FILES"}

func targetProblem(s string) string {
	col, key, ok := strings.Cut(s, ":")
	found := false
	for _, c := range targetCollections {
		if strings.EqualFold(col, c) {
			found = true
		}
	}
	if !ok || !found || key == "" {
		return fmt.Sprintf("%q: want COLLECTION:name with COLLECTION one of %s (e.g. ARGS:password)", s, strings.Join(targetCollections, ", "))
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' || c == ',' || c == ';' || c == '|' {
			return fmt.Sprintf("%q: the name has no spaces, quotes, backslashes, ',', ';', '|' or control characters", s)
		}
	}
	return ""
}
