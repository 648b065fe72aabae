package wafengine

import (
	"fmt"
	"io/fs"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// line is one generated SecLang directive and the policy field it comes
// from ("" for the fixed base), so a directive Coraza refuses is reported
// against the field.
type line struct {
	text  string
	field string
}

// firstExclusionRuleID numbers the rules exclusions generate, above the
// CRS (900000-999999) and the base configuration (200000-200009).
const firstExclusionRuleID = 1_000_000

// crsFiles are the rule files the policy includes: every REQUEST file, and
// the RESPONSE files only when the policy inspects responses.
func crsFiles(responses bool) []string {
	files, _ := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	var out []string
	for _, f := range files {
		name := strings.TrimPrefix(f, "@owasp_crs/")
		if strings.HasPrefix(name, "REQUEST-") || responses && strings.HasPrefix(name, "RESPONSE-") {
			out = append(out, f)
		}
	}
	return out
}

// bodyLimit is the policy's body inspection limit in bytes.
func bodyLimit(p *wafv1.WafPolicy) int {
	if n := p.GetRequestBody().GetLimitBytes(); n > 0 {
		return int(n)
	}
	return DefaultBodyLimit
}

// responseBodyLimit is the policy's response body inspection limit in bytes.
func responseBodyLimit(p *wafv1.WafPolicy) int {
	if n := p.GetResponseBodyLimitBytes(); n > 0 {
		return int(n)
	}
	return DefaultBodyLimit
}

// directives generates the SecLang configuration of p (checked by check).
// The rule engine is always On: Inspect decides what DETECT does with an
// interruption, so one WAF serves a mode change without recompiling the
// rules' semantics.
func directives(p *wafv1.WafPolicy) []line {
	var out []line
	add := func(field, format string, a ...any) { out = append(out, line{fmt.Sprintf(format, a...), field}) }
	limit := bodyLimit(p)
	body := "Off"
	if p.GetRequestBody().GetEnabled() {
		body = "On"
	}
	resp := "Off"
	if p.GetInspectResponses() {
		resp = "On"
	}
	// The base: Coraza's recommended configuration, minus the audit log and
	// temporary files (bodies stay in memory up to the limit).
	add("", "SecRuleEngine On")
	add("", "SecRxPreFilter On")
	add("request_body.enabled", "SecRequestBodyAccess %s", body)
	add("request_body.limit_bytes", "SecRequestBodyLimit %d", limit)
	add("request_body.limit_bytes", "SecRequestBodyInMemoryLimit %d", limit)
	add("", "SecRequestBodyLimitAction ProcessPartial")
	add("", "SecRequestBodyJsonDepthLimit 1024")
	add("", "SecArgumentsLimit 1000")
	add("inspect_responses", "SecResponseBodyAccess %s", resp)
	add("response_body_limit_bytes", "SecResponseBodyLimit %d", responseBodyLimit(p))
	add("", "SecResponseBodyLimitAction ProcessPartial")
	add("", "SecAuditEngine Off")
	add("", `SecRule REQUEST_HEADERS:Content-Type "@rx ^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"`)
	add("", `SecRule REQUEST_HEADERS:Content-Type "@rx ^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"`)
	add("", `SecRule REQUEST_HEADERS:Content-Type "@rx ^application/[a-z0-9.-]+[+]json" "id:200006,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"`)
	add("", `SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',severity:2"`)
	add("", `SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body failed strict validation.'"`)
	add("", `SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:200004,phase:1,t:none,log,deny,status:400,msg:'Argument limit reached'"`)
	add("", `SecRule ARGUMENTS_LIMIT_REACHED "@eq 1" "id:200005,phase:2,t:none,log,deny,status:400,msg:'Argument limit reached'"`)
	if p.GetInspectResponses() {
		// The response bodies read: text, JSON and XML (SecResponseBodyMimeType
		// takes exact types only); images, archives and streams of other
		// types pass unread. Only with inspect_responses: without it no body
		// is read, and libmodsecurity (bench-waf runs these directives in
		// it) does not know this ctl.
		add("", `SecRule RESPONSE_HEADERS:Content-Type "@rx ^(?:text/|application/(?:[a-z0-9.-]+\+)?(?:json|xml)(?:$|[;\s]))" "id:200007,phase:3,t:none,t:lowercase,pass,nolog,ctl:forceResponseBodyVariable=On"`)
		// Server-sent events never end: reading ahead would hold them back.
		add("", `SecRule RESPONSE_HEADERS:Content-Type "@rx ^text/event-stream" "id:200008,phase:3,t:none,t:lowercase,pass,nolog,ctl:forceResponseBodyVariable=Off"`)
	}
	if p.GetCrsDisabled() {
		return out
	}
	pl := p.GetParanoiaLevel()
	if pl == 0 {
		pl = 1
	}
	in, outT := p.GetInboundThreshold(), p.GetOutboundThreshold()
	if in == 0 {
		in = 5
	}
	if outT == 0 {
		outT = 4
	}
	add("", "Include @crs-setup.conf.example")
	add("paranoia_level", `SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"`, pl)
	add("inbound_threshold", `SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=%d"`, in, outT)
	// REST APIs use PUT, PATCH and DELETE; the CRS default (GET HEAD POST
	// OPTIONS) would score every one of them (rule 911100).
	add("", `SecAction "id:900200,phase:1,pass,t:none,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"`)

	// Exclusions limited to paths run first, in phase 1, as ctl actions
	// (the CRS "runtime exclusion" idiom); the others are applied to the
	// loaded rules after the Includes (the "configure-time" idiom).
	next := firstExclusionRuleID
	for i, ex := range p.GetExclusions() {
		f := fmt.Sprintf("exclusions[%d]", i)
		if len(ex.GetPathPrefixes()) == 0 {
			continue
		}
		var ctls []string
		if len(ex.GetTargets()) == 0 {
			for _, id := range ex.GetRuleIds() {
				ctls = append(ctls, "ctl:ruleRemoveById="+id)
			}
			for _, tag := range ex.GetTags() {
				ctls = append(ctls, "ctl:ruleRemoveByTag="+tag)
			}
		} else {
			for _, t := range ex.GetTargets() {
				t = targetName(t)
				for _, id := range ex.GetRuleIds() {
					ctls = append(ctls, "ctl:ruleRemoveTargetById="+id+";"+t)
				}
				for _, tag := range ex.GetTags() {
					ctls = append(ctls, "ctl:ruleRemoveTargetByTag="+tag+";"+t)
				}
			}
		}
		for j, prefix := range ex.GetPathPrefixes() {
			add(fmt.Sprintf("%s.path_prefixes[%d]", f, j), `SecRule REQUEST_FILENAME "@beginsWith %s" "id:%d,phase:1,pass,t:none,nolog,%s"`, prefix, next, strings.Join(ctls, ","))
			next++
		}
	}
	for _, f := range crsFiles(p.GetInspectResponses()) {
		add("", "Include %s", f)
	}
	for i, ex := range p.GetExclusions() {
		f := fmt.Sprintf("exclusions[%d]", i)
		if len(ex.GetPathPrefixes()) > 0 {
			continue
		}
		if len(ex.GetTargets()) == 0 {
			for j, id := range ex.GetRuleIds() {
				add(fmt.Sprintf("%s.rule_ids[%d]", f, j), "SecRuleRemoveById %s", id)
			}
			for j, tag := range ex.GetTags() {
				add(fmt.Sprintf("%s.tags[%d]", f, j), "SecRuleRemoveByTag %s", tag)
			}
			continue
		}
		for k, t := range ex.GetTargets() {
			t = targetName(t)
			// One id per directive: Coraza applies only the first of a list.
			for _, id := range ex.GetRuleIds() {
				add(fmt.Sprintf("%s.targets[%d]", f, k), `SecRuleUpdateTargetById %s "!%s"`, id, t)
			}
			for _, tag := range ex.GetTags() {
				add(fmt.Sprintf("%s.targets[%d]", f, k), `SecRuleUpdateTargetByTag %s "!%s"`, tag, t)
			}
		}
	}
	return out
}

// targetName upper-cases the collection of "args:password"; variable names
// are case-insensitive in Coraza.
func targetName(t string) string {
	col, key, _ := strings.Cut(t, ":")
	return strings.ToUpper(col) + ":" + key
}

// text joins lines into one configuration, one directive per line, so that
// line n of the text is lines[n-1].
func text(lines []line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}
