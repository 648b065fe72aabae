// Package actions compiles the non-routing actions of page rules (header
// edits, path/query rewrites, redirects, fixed responses) and applies them
// through small editor interfaces, so the fasthttp and the net/http paths of
// the proxy run the same code.
package actions

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/validate"
)

// HeaderEditor edits the headers of a request or a response. Names are
// case-insensitive.
type HeaderEditor interface {
	SetHeader(name, value string)
	AddHeader(name, value string)
	DelHeader(name string)
}

// RequestEditor edits the request about to be proxied.
type RequestEditor interface {
	HeaderEditor
	// Path is the current decoded path; SetPath replaces it (decoded form:
	// the editor escapes it on the wire).
	Path() string
	SetPath(path string)
	SetQueryArg(name, value string)
	DelQueryArg(name string)
}

// Vars are the values a redirect URL can expand.
type Vars interface {
	Scheme() string     // "http" or "https"
	Host() string       // lower-case, without port
	Path() string       // decoded path
	RequestURI() string // path and query as on the wire
}

type header struct{ name, value string }

// HeaderOps is a compiled set/add/remove list. Apply order: remove, then set,
// then add, so "remove X, add X: v" yields exactly one X.
type HeaderOps struct {
	set    []header
	add    []header
	remove []string
}

// CompileHeaderOps validates h; field names the config field for errors,
// e.g. `rules[2].actions[0].request_headers`.
func CompileHeaderOps(field string, h *configv1.HeaderOps) (*HeaderOps, error) {
	ops := &HeaderOps{}
	for _, name := range slices.Sorted(maps.Keys(h.GetSet())) {
		v := h.GetSet()[name]
		if err := checkHeader(name, v); err != nil {
			return nil, fmt.Errorf("%s.set[%q]: %w", field, name, err)
		}
		ops.set = append(ops.set, header{name, v})
	}
	for i, a := range h.GetAdd() {
		if err := checkHeader(a.GetName(), a.GetValue()); err != nil {
			return nil, fmt.Errorf("%s.add[%d]: %w", field, i, err)
		}
		ops.add = append(ops.add, header{a.GetName(), a.GetValue()})
	}
	for i, name := range h.GetRemove() {
		if err := checkHeader(name, ""); err != nil {
			return nil, fmt.Errorf("%s.remove[%d]: %w", field, i, err)
		}
		ops.remove = append(ops.remove, name)
	}
	return ops, nil
}

// Apply edits e.
func (o *HeaderOps) Apply(e HeaderEditor) {
	for _, n := range o.remove {
		e.DelHeader(n)
	}
	for _, h := range o.set {
		e.SetHeader(h.name, h.value)
	}
	for _, h := range o.add {
		e.AddHeader(h.name, h.value)
	}
}

// Rewrite changes the path (regex replace) and query arguments.
type Rewrite struct {
	re       *regexp.Regexp // nil: replace the whole path
	template string         // regexp.Expand template
	newPath  string         // when re is nil and non-empty
	qset     []header
	qdel     []string
}

// CompileRewrite validates r. In the replacement, $1..$9 (or ${1}) refer to
// groups and $$ is a literal dollar sign.
func CompileRewrite(field string, r *configv1.RewriteAction) (*Rewrite, error) {
	rw := &Rewrite{}
	if r.GetPathRegex() != "" {
		re, err := validate.Regexp(r.GetPathRegex())
		if err != nil {
			return nil, fmt.Errorf("%s.path_regex: %w", field, err)
		}
		tmpl, err := expandTemplate(r.GetPathReplacement(), re.NumSubexp())
		if err != nil {
			return nil, fmt.Errorf("%s.path_replacement %q: %w", field, r.GetPathReplacement(), err)
		}
		rw.re, rw.template = re, tmpl
	} else if p := r.GetPathReplacement(); p != "" {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%s.path_replacement %q: without path_regex it is the new path and must start with \"/\"", field, p)
		}
		rw.newPath = p
	}
	for _, k := range slices.Sorted(maps.Keys(r.GetQuerySet())) {
		if k == "" {
			return nil, fmt.Errorf("%s.query_set: argument name must not be empty", field)
		}
		rw.qset = append(rw.qset, header{k, r.GetQuerySet()[k]})
	}
	for i, k := range r.GetQueryRemove() {
		if k == "" {
			return nil, fmt.Errorf("%s.query_remove[%d]: argument name must not be empty", field, i)
		}
		rw.qdel = append(rw.qdel, k)
	}
	return rw, nil
}

// Apply rewrites the request. A regex that does not match leaves the path
// alone; when it matches, its first match is replaced (like APISIX
// regex_uri). A result that does not start with "/" gets one prepended.
func (rw *Rewrite) Apply(e RequestEditor) {
	switch {
	case rw.re != nil:
		p := e.Path()
		m := rw.re.FindStringSubmatchIndex(p)
		if m != nil {
			dst := make([]byte, 0, len(p)+len(rw.template))
			dst = append(dst, p[:m[0]]...)
			dst = rw.re.ExpandString(dst, rw.template, p, m)
			dst = append(dst, p[m[1]:]...)
			if len(dst) == 0 || dst[0] != '/' {
				dst = append([]byte{'/'}, dst...)
			}
			e.SetPath(string(dst))
		}
	case rw.newPath != "":
		e.SetPath(rw.newPath)
	}
	for _, k := range rw.qdel {
		e.DelQueryArg(k)
	}
	for _, q := range rw.qset {
		e.SetQueryArg(q.name, q.value)
	}
}

// expandTemplate turns "$1x" into "${1}x" (Go would read a group named "1x")
// and rejects references to groups the regexp does not have.
func expandTemplate(s string, groups int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("ends with a lone \"$\" (write $$ for a dollar sign)")
		}
		n := s[i+1]
		switch {
		case n == '$':
			b.WriteString("$$")
			i++
		case n >= '0' && n <= '9':
			if g := int(n - '0'); g > groups {
				return "", fmt.Errorf("$%d refers to a group the regex does not have (it has %d)", g, groups)
			}
			b.WriteString("${" + string(n) + "}")
			i++
		case n == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated \"${\"")
			}
			g, err := strconv.Atoi(s[i+2 : i+end])
			if err != nil || g < 0 || g > groups {
				return "", fmt.Errorf("%q is not a group of the regex (it has %d)", s[i:i+end+1], groups)
			}
			b.WriteString(s[i : i+end+1])
			i += end
		default:
			return "", fmt.Errorf("\"$%c\": use $1..$9 for groups or $$ for a dollar sign", n)
		}
	}
	return b.String(), nil
}

// Redirect answers with a redirect to an expanded URL.
type Redirect struct {
	Status int
	parts  []part
}

type part struct {
	lit string
	v   byte // 0: literal; 's' scheme, 'h' host, 'p' path, 'u' request URI
}

var redirectVars = map[string]byte{"request_uri": 'u', "scheme": 's', "host": 'h', "path": 'p'}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// CompileRedirect validates r: a status among 301, 302, 303, 307, 308 (0
// means 302) and a URL whose $variables are known.
func CompileRedirect(field string, r *configv1.RedirectAction) (*Redirect, error) {
	rd := &Redirect{Status: int(r.GetStatus())}
	switch rd.Status {
	case 0:
		rd.Status = 302
	case 301, 302, 303, 307, 308:
	default:
		return nil, fmt.Errorf("%s.status: %d is not a redirect status (301, 302, 303, 307 or 308)", field, rd.Status)
	}
	u := r.GetUrl()
	if u == "" {
		return nil, fmt.Errorf("%s.url: must not be empty", field)
	}
	if strings.ContainsAny(u, "\r\n") || strings.ContainsRune(u, 0) {
		return nil, fmt.Errorf("%s.url: must not contain line breaks or NUL", field)
	}
	lit := 0
	for i := 0; i < len(u); {
		if u[i] != '$' {
			i++
			continue
		}
		// $name (the longest run of letters, digits and '_') or ${name}.
		start, end, next := i+1, i+1, 0
		if end < len(u) && u[end] == '{' {
			close := strings.IndexByte(u[end:], '}')
			if close < 0 {
				return nil, fmt.Errorf("%s.url %q: unterminated \"${\"", field, u)
			}
			start, end = end+1, end+close
			next = end + 1
		} else {
			for end < len(u) && isIdentByte(u[end]) {
				end++
			}
			next = end
		}
		name := u[start:end]
		v, ok := redirectVars[name]
		if !ok {
			return nil, fmt.Errorf("%s.url %q: unknown variable %q (known: $scheme, $host, $path, $request_uri; write ${host} to follow it with letters)", field, u, "$"+name)
		}
		if lit < i {
			rd.parts = append(rd.parts, part{lit: u[lit:i]})
		}
		rd.parts = append(rd.parts, part{v: v})
		i, lit = next, next
	}
	if lit < len(u) {
		rd.parts = append(rd.parts, part{lit: u[lit:]})
	}
	return rd, nil
}

// AppendLocation appends the expanded URL to dst.
func (r *Redirect) AppendLocation(dst []byte, v Vars) []byte {
	for _, p := range r.parts {
		switch p.v {
		case 0:
			dst = append(dst, p.lit...)
		case 's':
			dst = append(dst, v.Scheme()...)
		case 'h':
			dst = append(dst, v.Host()...)
		case 'p':
			dst = append(dst, v.Path()...)
		case 'u':
			dst = append(dst, v.RequestURI()...)
		}
	}
	return dst
}

// Respond answers with a fixed response.
type Respond struct {
	Status      int
	Body        []byte
	ContentType string
}

// CompileRespond validates r: status 100-599 (0 means 200); the content
// type defaults to text/plain.
func CompileRespond(field string, r *configv1.RespondAction) (*Respond, error) {
	rs := &Respond{Status: int(r.GetStatus()), Body: []byte(r.GetBody()), ContentType: r.GetContentType()}
	if rs.Status == 0 {
		rs.Status = 200
	}
	if rs.Status < 100 || rs.Status > 599 {
		return nil, fmt.Errorf("%s.status: %d is not an HTTP status (100-599)", field, rs.Status)
	}
	if rs.ContentType == "" {
		rs.ContentType = "text/plain; charset=utf-8"
	}
	if err := checkHeader("Content-Type", rs.ContentType); err != nil {
		return nil, fmt.Errorf("%s.content_type: %w", field, err)
	}
	return rs, nil
}

func checkHeader(name, value string) error {
	if r := validate.Token("header name", name); r != "" {
		return errors.New(r)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("header %q: value must not contain CR, LF or NUL", name)
		}
	}
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "connection":
		return fmt.Errorf("header %q is managed by the proxy and cannot be edited", name)
	}
	return nil
}
