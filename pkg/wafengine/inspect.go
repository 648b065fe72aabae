package wafengine

import (
	"path"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
	"github.com/strata-edge/strata/pkg/rules"
)

// Request is what Inspect reads of an HTTP request. The rules.Request
// methods serve the custom rules and the whitelist; the rest feeds the
// Core Rule Set.
type Request interface {
	rules.Request
	RequestURI() string // path and query as sent
	Proto() string      // "HTTP/1.1", "HTTP/2.0"
	// VisitHeaders calls fn for every request header (Host included).
	VisitHeaders(fn func(name, value string))
	// Body returns up to max bytes of the request body, reading it if it
	// was not read yet, and whether the body is longer than max. The
	// request must still forward the whole body afterwards. Inspect calls
	// it only when the policy inspects the request's content type.
	Body(max int) (b []byte, more bool)
}

// Action is what a verdict asks the node to do; the values are the
// WafHit.action names.
type Action string

const (
	None      Action = ""          // nothing matched: serve, report nothing
	Block     Action = "block"     // answer Verdict.Status
	Challenge Action = "challenge" // serve the challenge unless the client is cleared
	Allow     Action = "allow"     // a custom rule allowed it: serve, CRS skipped
	Log       Action = "log"       // a custom LOG rule matched: serve
	Detect    Action = "detect"    // DETECT mode: it would have been blocked; serve
)

// Verdict is the outcome of Inspect.
type Verdict struct {
	Action Action
	// Status to answer with (Block only).
	Status int
	// AnomalyScore is the CRS inbound anomaly score, or the outbound one
	// in a Response verdict (0 without the CRS).
	AnomalyScore int
	// Response: the verdict is on the upstream's response (Exchange.Response).
	Response bool
	// Matches are the rules that matched, custom rules first; at most
	// MaxMatches, data masked and truncated.
	Matches []Match
	// Skipped: the whitelist skipped the WAF (Action None).
	Skipped bool
}

// Match is one rule that matched (the WafHit RuleMatch).
type Match struct {
	RuleID  string // "942100" or "custom:<id>"
	Message string
	Tags    []string
	Target  string // "ARGS:id"
	Data    string // at most MaxMatchData bytes, secrets masked
	// Phase of the rule: 1-2 request, 3-4 response; 0 for custom rules
	// and the node's own checks.
	Phase int
}

// Limits of what a verdict carries.
const (
	MaxMatches   = 16
	MaxMatchData = 128
)

// BodyLimitRuleID names the match a body over the inspection limit adds.
const BodyLimitRuleID = "body-limit"

// Inspect runs the policy on r: the whitelist, then the custom rules in
// order (the first BLOCK, CHALLENGE or ALLOW decides), then the Core Rule
// Set over the request line, headers and (where the policy asks) body. In
// DETECT mode a request that would be blocked or challenged gets Detect:
// the verdict never changes the response. Safe for concurrent use.
func (w *WAF) Inspect(r Request) Verdict {
	v, x := w.Begin(r)
	x.Close()
	return v
}

// Begin is Inspect that keeps the request's Core Rule Set transaction open
// for its response when the policy inspects responses (InspectsResponses)
// and the verdict lets the request on: the caller then passes the upstream
// response to x.Response, or calls x.Close when there is none. x is nil
// when there is no response to inspect (and Close on nil is a no-op).
func (w *WAF) Begin(r Request) (v Verdict, x *Exchange) {
	if w.Off() {
		return v, nil
	}
	if w.skip(r) {
		v.Skipped = true
		return v, nil
	}
	detect := w.Mode == wafv1.WafMode_WAF_MODE_DETECT
	var matched [8]int
	for _, i := range w.customSet.Match(r, matched[:0]) {
		c := &w.custom[i]
		v.add(Match{RuleID: c.ruleID, Message: c.description})
		switch c.action {
		case wafv1.WafRuleAction_WAF_RULE_ACTION_LOG:
			v.Action = Log
			continue
		case wafv1.WafRuleAction_WAF_RULE_ACTION_ALLOW:
			v.Action = Allow
			return v, nil
		case wafv1.WafRuleAction_WAF_RULE_ACTION_CHALLENGE:
			if detect {
				v.Action = Detect
				continue
			}
			v.Action = Challenge
			return v, nil
		default: // BLOCK
			if detect {
				v.Action = Detect
				continue
			}
			v.Action, v.Status = Block, c.status
			return v, nil
		}
	}
	if w.crs == nil {
		return v, nil
	}
	tx := w.runCRS(r, &v, detect)
	if !w.response.enabled || v.Action == Block || tx.IsInterrupted() {
		// An interrupted transaction (DETECT) runs no further phase.
		tx.Close()
		return v, nil
	}
	return v, &Exchange{w: w, tx: tx, detect: detect}
}

// skip reports whether the whitelist skips r.
func (w *WAF) skip(r rules.Request) bool {
	p := r.Path()
	for _, pre := range w.skipPrefix {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	if len(w.skipExt) > 0 {
		if ext := path.Ext(p); len(ext) > 1 && !strings.Contains(ext, "/") && w.skipExt[strings.ToLower(ext[1:])] {
			return true
		}
	}
	return w.skipWhen != nil && w.skipWhen.Match(r)
}

// WantsBody reports whether the policy reads the body of a request with
// this method and Content-Type. Every body is read when body inspection is
// on, whatever the method or Content-Type says (no header parses as a form,
// as Coraza alone does): skipping unlisted types would let an attacker
// bypass the rules by leaving the header out. Only JSON, XML and multipart,
// whose parsers the policy chooses, are left unread when not chosen.
func (w *WAF) WantsBody(method, contentType string) bool {
	b := &w.body
	if !b.enabled || w.crs == nil {
		return false
	}
	ct := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch {
	case ct == "application/json" || strings.HasPrefix(ct, "application/") && strings.HasSuffix(ct, "+json"):
		return b.json
	case ct == "application/xml" || ct == "text/xml" || strings.HasPrefix(ct, "application/soap+xml"):
		return b.xml
	case ct == "multipart/form-data":
		return b.multipart
	}
	return true
}

// BodyLimit is how many body bytes the policy inspects.
func (w *WAF) BodyLimit() int { return w.body.limit }

// runCRS runs phases 1 and 2 of the Core Rule Set on r and returns the
// transaction, still open: the caller closes it (Begin).
func (w *WAF) runCRS(r Request, v *Verdict, detect bool) types.Transaction {
	tx := w.crs.NewTransaction()
	ip := r.ClientIP()
	client := ""
	if ip.IsValid() {
		client = ip.String()
	}
	tx.ProcessConnection(client, 0, "", int(r.Port()))
	tx.ProcessURI(r.RequestURI(), r.Method(), r.Proto())
	tx.SetServerName(r.Host())
	contentType := ""
	r.VisitHeaders(func(name, value string) {
		if contentType == "" && strings.EqualFold(name, "Content-Type") {
			contentType = value
		}
		tx.AddRequestHeader(name, value)
	})
	it := tx.ProcessRequestHeaders()
	if it == nil && w.WantsBody(r.Method(), contentType) {
		body, more := r.Body(w.body.limit)
		if more {
			v.add(Match{RuleID: BodyLimitRuleID, Message: "Request body larger than the inspection limit (" + strconv.Itoa(w.body.limit) + " bytes)"})
			if !detect {
				v.Action, v.Status = Block, 413
				collect(tx, v, false)
				return tx
			}
			v.Action = Detect
		}
		if len(body) > 0 {
			it, _, _ = tx.WriteRequestBody(body)
		}
	}
	if it == nil {
		it, _ = tx.ProcessRequestBody()
	}
	collect(tx, v, false)
	v.interrupted(it, detect)
	return tx
}

// interrupted sets the action of an interruption it (nil: none).
func (v *Verdict) interrupted(it *types.Interruption, detect bool) {
	if it == nil {
		return
	}
	if detect {
		v.Action = Detect
		return
	}
	v.Action, v.Status = Block, it.Status
	if v.Status == 0 {
		v.Status = 403
	}
}

// collect copies the transaction's matched rules and anomaly score: those
// of the request phases (1-2), or with response those of the response
// phases (3-4) and the outbound score.
func collect(tx types.Transaction, v *Verdict, response bool) {
	score := "blocking_inbound_anomaly_score"
	if response {
		score = "blocking_outbound_anomaly_score"
	}
	if st, ok := tx.(plugintypes.TransactionState); ok {
		if vals := st.Variables().TX().Get(score); len(vals) > 0 {
			v.AnomalyScore, _ = strconv.Atoi(vals[0])
		}
	}
	for _, mr := range tx.MatchedRules() {
		rule := mr.Rule()
		if id := rule.ID(); mr.Message() == "" || id == 0 || id >= 900000 && id < 902000 {
			continue // flow control and the CRS setup and initialization
		}
		phase := int(rule.Phase())
		if (phase >= 3) != response {
			continue
		}
		m := Match{RuleID: strconv.Itoa(rule.ID()), Message: mr.Message(), Tags: rule.Tags(), Phase: phase}
		if mds := mr.MatchedDatas(); len(mds) > 0 {
			md := mds[0]
			m.Target = md.Variable().Name()
			if k := md.Key(); k != "" {
				m.Target += ":" + k
			}
			m.Data = Mask(m.Target, md.Value())
		}
		v.add(m)
	}
}

func (v *Verdict) add(m Match) {
	if len(v.Matches) < MaxMatches {
		v.Matches = append(v.Matches, m)
	}
}
