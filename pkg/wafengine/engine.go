package wafengine

import (
	"fmt"
	"os"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/rules"
	"github.com/strata-edge/strata/pkg/wafengine/operators"
)

// WAF is a compiled policy. It is immutable and safe for concurrent use.
type WAF struct {
	// ID and Version are the policy's (Version: its release number).
	ID      string
	Version uint64
	// Mode is the policy's mode (UNSPECIFIED reads as OFF).
	Mode wafv1.WafMode

	crs        coraza.WAF // nil: crs_disabled
	custom     []customRule
	customSet  *rules.Set      // custom rules' when, in order: one scan for all
	skipExt    map[string]bool // lower case, without the dot
	skipPrefix []string
	skipWhen   *rules.Matcher // nil: none
	body       bodyPolicy
	response   responsePolicy
	lines      []line
}

// customRule is one enabled custom rule, compiled.
type customRule struct {
	id, ruleID  string // ruleID: "custom:<id>", as hits name it
	description string
	when        *rules.Matcher
	action      wafv1.WafRuleAction
	status      int
}

// bodyPolicy says which request bodies Inspect reads.
type bodyPolicy struct {
	enabled              bool
	limit                int
	json, xml, multipart bool
}

// Validate compiles p without keeping it; the error names the field, the
// custom rule's index and id, and for a generated directive Coraza refuses
// its SecLang line, e.g.
//
//	custom_rules[3] (id "block-admin").when: column 12: PathPrefix: ...
//
// Several problems are joined (errors.Join), one per line.
func Validate(p *wafv1.WafPolicy) error {
	_, err := Compile(p)
	return err
}

// Compile builds the WAF of p: the field checks of Validate, the custom
// rules and whitelist, and (unless crs_disabled) Coraza loaded with the
// Core Rule Set and the directives generated from p. It costs about 40 ms
// and 11 MB with the CRS (the first call in a process twice that: it reads
// the CRS's transformation chains, chains.go): compile a policy once per
// release, never per request.
func Compile(p *wafv1.WafPolicy) (*WAF, error) {
	if err := check(p); err != nil {
		return nil, err
	}
	w := &WAF{ID: p.GetId(), Version: p.GetVersion(), Mode: p.GetMode(), skipExt: map[string]bool{}}
	for i, r := range p.GetCustomRules() {
		if r.GetDisabled() {
			continue
		}
		m, err := rules.Compile(r.GetWhen())
		if err != nil { // check compiled it already
			return nil, errf(ruleField(i, r.GetId())+".when", "%v", err)
		}
		status := int(r.GetStatus())
		if status == 0 {
			status = defaultBlockStatus
		}
		w.custom = append(w.custom, customRule{
			id: r.GetId(), ruleID: "custom:" + r.GetId(), description: r.GetDescription(),
			when: m, action: r.GetAction(), status: status,
		})
	}
	whens := make([]*rules.Matcher, len(w.custom))
	for i := range w.custom {
		whens[i] = w.custom[i].when
	}
	w.customSet = rules.NewSet(whens)
	wl := p.GetWhitelist()
	for _, e := range wl.GetExtensions() {
		w.skipExt[strings.ToLower(e)] = true
	}
	w.skipPrefix = wl.GetPathPrefixes()
	if strings.TrimSpace(wl.GetWhen()) != "" {
		m, err := rules.Compile(wl.GetWhen())
		if err != nil {
			return nil, errf("whitelist.when", "%v", err)
		}
		w.skipWhen = m
	}
	b := p.GetRequestBody()
	w.body = bodyPolicy{enabled: b.GetEnabled(), limit: bodyLimit(p), json: b.GetJson(), xml: b.GetXml(), multipart: b.GetMultipart()}
	if !w.body.json && !w.body.xml && !w.body.multipart {
		w.body.json, w.body.xml, w.body.multipart = true, true, true
	}
	w.response = responsePolicy{enabled: p.GetInspectResponses(), limit: responseBodyLimit(p)}
	w.lines = directives(p)
	if p.GetCrsDisabled() && len(w.custom) == 0 {
		return w, nil
	}
	if !p.GetCrsDisabled() {
		crsWAF, err := newCoraza(w.lines)
		if err != nil {
			return nil, err
		}
		w.crs = crsWAF
	}
	return w, nil
}

func newCoraza(lines []line) (coraza.WAF, error) {
	conf, err := withFoldedChains(lines)
	if err != nil {
		return nil, err
	}
	cw, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(conf))
	if err == nil {
		return cw, nil
	}
	return nil, explain(lines, err)
}

// withFoldedChains is the configuration of lines with the CRS rules'
// transformation chains folded (chains.go) right after the last Include;
// with STRATA_WAF_OPERATORS=coraza, lines unchanged (Coraza alone).
func withFoldedChains(lines []line) (string, error) {
	if os.Getenv(operators.Env) == "coraza" {
		return text(lines), nil
	}
	last := -1
	var included []string
	for i, l := range lines {
		if f, ok := strings.CutPrefix(l.text, "Include @owasp_crs/"); ok {
			last = i
			included = append(included, "@owasp_crs/"+f)
		}
	}
	if last < 0 {
		return text(lines), nil
	}
	folds, err := foldDirectives(included)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(text(lines[:last+1]))
	for _, f := range folds {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	b.WriteString(text(lines[last+1:]))
	return b.String(), nil
}

// explain finds the generated line Coraza refused: Coraza's error names
// the directive but not where it is, so each line that comes from a policy
// field is tried alone on top of the lines before it that carry no field
// (cheap: no rule file is loaded for the early lines; the late ones load
// the CRS once).
func explain(lines []line, err error) error {
	var base []line
	for i, l := range lines {
		if l.field == "" || !strings.HasPrefix(l.text, "Sec") {
			base = append(base, l)
			continue
		}
		try := append(append([]line(nil), base...), l)
		if _, e := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(text(try))); e != nil {
			return errf(l.field, "SecLang line %d %q: %v", i+1, l.text, e)
		}
	}
	return fmt.Errorf("policy: the Core Rule Set does not load: %w", err)
}

// Directives returns the generated SecLang configuration, one directive per
// line (the line numbers errors name).
func (w *WAF) Directives() string { return text(w.lines) }

// Off reports whether the WAF inspects nothing (mode OFF).
func (w *WAF) Off() bool {
	return w == nil || w.Mode == wafv1.WafMode_WAF_MODE_OFF || w.Mode == wafv1.WafMode_WAF_MODE_UNSPECIFIED
}

// Key identifies a compiled policy: one WAF per key serves every app that
// attaches the policy.
func (w *WAF) Key() string { return Key(w.ID, w.Version) }

// Key is the cache key of policy id at release version.
func Key(id string, version uint64) string { return fmt.Sprintf("%s@%d", id, version) }
