package waf

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/rules"
	"github.com/strata-edge/strata/pkg/validate"
)

// Limits of a policy, checked before anything is stored or compiled: every
// node compiles each policy it gets, and every request of an attached app
// runs its custom rules.
const (
	MaxCustomRules      = 1000
	MaxWhenBytes        = 4 << 10
	MaxRuleIDLength     = 64
	MaxDescriptionBytes = 256
	MaxExclusions       = 500
	MaxExclusionItems   = 100 // rule ids, tags, path prefixes, targets: each
	MaxItemBytes        = 256 // one rule id, tag, prefix, target or extension
	MaxWhitelistItems   = 256
	MaxPartitions       = 256
	MaxLabels           = 64
	MaxLabelKeyLength   = 63
	MaxLabelValueLength = 256
	MaxParanoiaLevel    = 4
	MaxThreshold        = 10000
	DefaultBodyLimit    = 128 << 10
	MaxBodyLimit        = 10 << 20
)

var (
	ruleIDPattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	crsIDPattern   = regexp.MustCompile(`^[0-9]{1,7}(-[0-9]{1,7})?$`)
	tagPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]*$`)
	targetPattern  = regexp.MustCompile(`^(ARGS|ARGS_GET|ARGS_POST|ARGS_NAMES|REQUEST_COOKIES|REQUEST_COOKIES_NAMES|REQUEST_HEADERS|REQUEST_HEADERS_NAMES|XML|FILES|FILES_NAMES)(:[^\s|!,"']+)?$`)
	extPattern     = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)
	labelKeyPatter = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_./-]*[A-Za-z0-9])?$`)
)

// Normalize validates in as a policy's working copy and returns a copy with
// id set, version 0 and defaults made explicit where the nodes would
// otherwise guess (body limit). partitions are the resolved partition ids.
// Errors name the field (`custom_rules[3] (id "block-admin").when: ...`).
func Normalize(id string, in *wafv1.WafPolicy, partitions []string) (*wafv1.WafPolicy, error) {
	var f apierr.Fields
	out := &wafv1.WafPolicy{Id: id, Name: in.GetName(), Mode: in.GetMode(), ParanoiaLevel: in.GetParanoiaLevel(),
		InboundThreshold: in.GetInboundThreshold(), OutboundThreshold: in.GetOutboundThreshold(), PartitionIds: partitions,
		InspectResponses: in.GetInspectResponses(), CrsDisabled: in.GetCrsDisabled()}
	f.Add("name", validate.Name(in.GetName()))
	if _, ok := wafv1.WafMode_name[int32(in.GetMode())]; !ok {
		f.Addf("mode", "%d is not a mode (off, detect, block)", in.GetMode())
	}
	if out.Mode == wafv1.WafMode_WAF_MODE_UNSPECIFIED {
		out.Mode = wafv1.WafMode_WAF_MODE_OFF
	}
	if in.GetParanoiaLevel() > MaxParanoiaLevel {
		f.Addf("paranoia_level", "must be 1-4, not %d", in.GetParanoiaLevel())
	}
	if in.GetInboundThreshold() > MaxThreshold {
		f.Addf("inbound_threshold", "must be at most %d, not %d", MaxThreshold, in.GetInboundThreshold())
	}
	if in.GetOutboundThreshold() > MaxThreshold {
		f.Addf("outbound_threshold", "must be at most %d, not %d", MaxThreshold, in.GetOutboundThreshold())
	}
	out.Labels = labels(&f, in.GetLabels())
	out.Exclusions = exclusions(&f, in.GetExclusions())
	out.Whitelist = whitelist(&f, in.GetWhitelist())
	out.RequestBody = body(&f, in.GetRequestBody())
	out.ResponseBodyLimitBytes = responseLimit(&f, in)
	out.CustomRules = customRules(&f, in.GetCustomRules())
	if err := f.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func labels(f *apierr.Fields, in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	if len(in) > MaxLabels {
		f.Addf("labels", "has %d labels, more than %d", len(in), MaxLabels)
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(in)) {
		field := fmt.Sprintf("labels[%q]", k)
		switch v := in[k]; {
		case len(k) > MaxLabelKeyLength:
			f.Addf(field, "the key is %d characters long, more than %d", len(k), MaxLabelKeyLength)
		case !labelKeyPatter.MatchString(k):
			f.Add(field, "the key must be letters, digits, '-', '_', '.' and '/', starting and ending with a letter or digit")
		case len(v) > MaxLabelValueLength:
			f.Addf(field, "the value is %d bytes long, more than %d", len(v), MaxLabelValueLength)
		case !utf8.ValidString(v):
			f.Add(field, "the value is not valid UTF-8")
		}
	}
	return maps.Clone(in)
}

// items checks a list of short strings: its length, then each with ok
// (which returns why an item is refused, or "").
func items(f *apierr.Fields, field string, in []string, limit int, ok func(string) string) []string {
	if len(in) > limit {
		f.Addf(field, "has %d entries, more than %d", len(in), limit)
		return nil
	}
	var out []string
	for i, s := range in {
		s = strings.TrimSpace(s)
		reason := ""
		switch {
		case s == "":
			reason = "is empty"
		case len(s) > MaxItemBytes:
			reason = fmt.Sprintf("is %d bytes long, more than %d", len(s), MaxItemBytes)
		default:
			reason = ok(s)
		}
		if reason != "" {
			f.Add(fmt.Sprintf("%s[%d]", field, i), reason)
			continue
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func crsRuleID(s string) string {
	if !crsIDPattern.MatchString(s) {
		return fmt.Sprintf("%q is not a rule id (920350) or an id range (942100-942999)", s)
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		if a > b {
			return fmt.Sprintf("%q: the range ends before it starts", s)
		}
	}
	return ""
}

func tag(s string) string {
	if !tagPattern.MatchString(s) {
		return fmt.Sprintf("%q is not a rule tag (attack-sqli, paranoia-level/2): letters, digits, '-', '_', '.' and '/'", s)
	}
	return ""
}

func pathPrefix(s string) string {
	switch {
	case !strings.HasPrefix(s, "/"):
		return fmt.Sprintf("%q must start with '/'", s)
	case strings.ContainsAny(s, " \t\r\n\"'"):
		return fmt.Sprintf("%q must not contain spaces or quotes", s)
	}
	return ""
}

func target(s string) string {
	if !targetPattern.MatchString(s) {
		return fmt.Sprintf("%q is not a target: ARGS, ARGS_NAMES, REQUEST_COOKIES, REQUEST_HEADERS (and their _NAMES), XML, FILES, optionally with ':name' (ARGS:password)", s)
	}
	return ""
}

func exclusions(f *apierr.Fields, in []*wafv1.RuleExclusion) []*wafv1.RuleExclusion {
	if len(in) > MaxExclusions {
		f.Addf("exclusions", "has %d exclusions, more than %d", len(in), MaxExclusions)
		return nil
	}
	var out []*wafv1.RuleExclusion
	for i, x := range in {
		field := fmt.Sprintf("exclusions[%d]", i)
		e := &wafv1.RuleExclusion{
			RuleIds:      items(f, field+".rule_ids", x.GetRuleIds(), MaxExclusionItems, crsRuleID),
			Tags:         items(f, field+".tags", x.GetTags(), MaxExclusionItems, tag),
			PathPrefixes: items(f, field+".path_prefixes", x.GetPathPrefixes(), MaxExclusionItems, pathPrefix),
			Targets:      items(f, field+".targets", x.GetTargets(), MaxExclusionItems, target),
		}
		if len(e.RuleIds) == 0 && len(e.Tags) == 0 && len(x.GetRuleIds()) == 0 && len(x.GetTags()) == 0 {
			f.Add(field, "names no rule: give rule_ids or tags")
		}
		out = append(out, e)
	}
	return out
}

func whitelist(f *apierr.Fields, in *wafv1.Whitelist) *wafv1.Whitelist {
	if in == nil {
		return nil
	}
	w := &wafv1.Whitelist{
		Extensions: items(f, "whitelist.extensions", in.GetExtensions(), MaxWhitelistItems, func(s string) string {
			if !extPattern.MatchString(strings.TrimPrefix(s, ".")) {
				return fmt.Sprintf("%q is not a file extension (css, png): 1-16 letters or digits", s)
			}
			return ""
		}),
		PathPrefixes: items(f, "whitelist.path_prefixes", in.GetPathPrefixes(), MaxWhitelistItems, pathPrefix),
		When:         in.GetWhen(),
	}
	for i, e := range w.Extensions {
		w.Extensions[i] = strings.ToLower(strings.TrimPrefix(e, "."))
	}
	w.Extensions = slices.Compact(w.Extensions)
	if w.When != "" {
		when(f, "whitelist.when", w.When)
	}
	if len(w.Extensions) == 0 && len(w.PathPrefixes) == 0 && w.When == "" {
		return nil
	}
	return w
}

func body(f *apierr.Fields, in *wafv1.BodyInspection) *wafv1.BodyInspection {
	if in == nil || !in.GetEnabled() {
		if in.GetLimitBytes() > 0 || in.GetJson() || in.GetXml() || in.GetMultipart() {
			f.Add("request_body.enabled", "is off, but other request_body settings are given: turn it on or leave them out")
		}
		return nil
	}
	b := &wafv1.BodyInspection{Enabled: true, LimitBytes: in.GetLimitBytes(), Json: in.GetJson(), Xml: in.GetXml(), Multipart: in.GetMultipart()}
	if b.LimitBytes == 0 {
		b.LimitBytes = DefaultBodyLimit
	}
	if b.LimitBytes > MaxBodyLimit {
		f.Addf("request_body.limit_bytes", "%d is more than the limit of %d (10 MiB)", b.LimitBytes, MaxBodyLimit)
	}
	if !b.Json && !b.Xml && !b.Multipart {
		b.Json, b.Xml, b.Multipart = true, true, true
	}
	return b
}

// responseLimit is the response body limit of in (0: the nodes' default,
// 131072, left implicit so a Terraform plan that leaves it out matches what
// is stored), refused without inspect_responses.
func responseLimit(f *apierr.Fields, in *wafv1.WafPolicy) uint32 {
	n := in.GetResponseBodyLimitBytes()
	if n > 0 && !in.GetInspectResponses() {
		f.Add("response_body_limit_bytes", "is set, but inspect_responses is off: turn it on or leave it out")
		return 0
	}
	if n > MaxBodyLimit {
		f.Addf("response_body_limit_bytes", "%d is more than the limit of %d (10 MiB)", n, MaxBodyLimit)
	}
	return n
}

// when checks a rule-language condition: its size, then its syntax.
func when(f *apierr.Fields, field, expr string) {
	if len(expr) > MaxWhenBytes {
		f.Addf(field, "is %d bytes long, more than %d", len(expr), MaxWhenBytes)
		return
	}
	if err := rules.Validate(expr); err != nil {
		f.Add(field, err.Error())
	}
}

func customRules(f *apierr.Fields, in []*wafv1.CustomRule) []*wafv1.CustomRule {
	if len(in) > MaxCustomRules {
		// Before parsing: refusing a flood must stay cheap.
		f.Addf("custom_rules", "has %d rules, more than %d", len(in), MaxCustomRules)
		return nil
	}
	seen := map[string]int{}
	var out []*wafv1.CustomRule
	for i, r := range in {
		field := fmt.Sprintf("custom_rules[%d]", i)
		if id := r.GetId(); id != "" && len(id) <= MaxRuleIDLength {
			field = fmt.Sprintf("custom_rules[%d] (id %q)", i, id)
		}
		c := &wafv1.CustomRule{Id: r.GetId(), When: r.GetWhen(), Action: r.GetAction(), Status: r.GetStatus(),
			Description: r.GetDescription(), Disabled: r.GetDisabled()}
		switch id := r.GetId(); {
		case id == "":
			f.Add(field+".id", "is required")
		case len(id) > MaxRuleIDLength:
			f.Addf(field+".id", "is %d characters long, more than %d", len(id), MaxRuleIDLength)
		case !ruleIDPattern.MatchString(id):
			f.Addf(field+".id", "%q: lower-case letters, digits and '-', starting and ending with a letter or digit", id)
		default:
			if j, dup := seen[id]; dup {
				f.Addf(field+".id", "is a duplicate of custom_rules[%d]", j)
			}
			seen[id] = i
		}
		if r.GetWhen() == "" {
			f.Add(field+".when", "is required")
		} else {
			when(f, field+".when", r.GetWhen())
		}
		switch r.GetAction() {
		case wafv1.WafRuleAction_WAF_RULE_ACTION_BLOCK:
			if s := r.GetStatus(); s != 0 && (s < 400 || s > 599) {
				f.Addf(field+".status", "must be 400-599, not %d", s)
			}
			if c.Status == 0 {
				c.Status = 403
			}
		case wafv1.WafRuleAction_WAF_RULE_ACTION_LOG, wafv1.WafRuleAction_WAF_RULE_ACTION_CHALLENGE, wafv1.WafRuleAction_WAF_RULE_ACTION_ALLOW:
			if r.GetStatus() != 0 {
				f.Add(field+".status", "is for action block only")
			}
		case wafv1.WafRuleAction_WAF_RULE_ACTION_UNSPECIFIED:
			f.Add(field+".action", "is required (block, log, challenge, allow)")
		default:
			f.Addf(field+".action", "%d is not an action (block, log, challenge, allow)", r.GetAction())
		}
		if len(r.GetDescription()) > MaxDescriptionBytes {
			f.Addf(field+".description", "is %d bytes long, more than %d", len(r.GetDescription()), MaxDescriptionBytes)
		} else if !utf8.ValidString(r.GetDescription()) {
			f.Add(field+".description", "is not valid UTF-8")
		}
		out = append(out, c)
		if len(*f) >= 20 { // a long list of bad rules says enough with the first ones
			break
		}
	}
	return out
}
