// Package wafengine turns a WafPolicy (strata.waf.v1) into a compiled WAF:
// the OWASP Core Rule Set v4 on Coraza v3, configured by SecLang directives
// generated from the policy's fields, plus the policy's custom rules in
// Strata's rule language (pkg/rules), the whitelist and the body limits.
//
// The API is small on purpose:
//
//	err := wafengine.Validate(p)   // the control plane, at write and release time
//	w, err := wafengine.Compile(p) // the node, once per policy id+version
//	v := w.Inspect(r)              // per request; v.Action says what to do
//	v, x := w.Begin(r)             // the same, keeping the transaction for the response
//	rv := x.Response(resp)         // with inspect_responses: phases 3-4, outbound threshold
//
// Errors name the policy field, the custom rule's id and, for a generated
// directive Coraza refuses, the SecLang line. A compiled WAF is immutable
// and safe for concurrent use; Directives shows what it was built from.
// docs/waf.md, "How a node runs a policy" and "Response inspection".
package wafengine
