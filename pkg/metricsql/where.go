package metricsql

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-edge/strata/pkg/validate"
	"vitess.io/vitess/go/vt/sqlparser"
)

// pred is a compiled WHERE condition, evaluated once per request.
type pred func(r *Request, c *evalCtx) bool

// maxInList bounds an IN list (the 4 KiB text bounds it too).
const maxInList = 256

func (c *compiler) where(e sqlparser.Expr) (pred, error) {
	switch e := e.(type) {
	case *sqlparser.AndExpr:
		l, err := c.where(e.Left)
		if err != nil {
			return nil, err
		}
		r, err := c.where(e.Right)
		if err != nil {
			return nil, err
		}
		return func(q *Request, x *evalCtx) bool { return l(q, x) && r(q, x) }, nil
	case *sqlparser.OrExpr:
		l, err := c.where(e.Left)
		if err != nil {
			return nil, err
		}
		r, err := c.where(e.Right)
		if err != nil {
			return nil, err
		}
		return func(q *Request, x *evalCtx) bool { return l(q, x) || r(q, x) }, nil
	case *sqlparser.NotExpr:
		p, err := c.where(e.Expr)
		if err != nil {
			return nil, err
		}
		return not(p), nil
	case *sqlparser.ComparisonExpr:
		return c.comparison(e)
	case *sqlparser.BetweenExpr:
		col, err := c.whereColumn(e.Left, "BETWEEN")
		if err != nil {
			return nil, err
		}
		if col.kind != kindNumber {
			return nil, errorf("WHERE", "%s BETWEEN: %s is text; BETWEEN needs a number column", col.name, col.name)
		}
		lo, err := numberLiteral(col, e.From)
		if err != nil {
			return nil, err
		}
		hi, err := numberLiteral(col, e.To)
		if err != nil {
			return nil, err
		}
		num := col.num
		p := pred(func(r *Request, _ *evalCtx) bool { v := num(r); return v >= lo && v <= hi })
		if !e.IsBetween {
			p = not(p)
		}
		return p, nil
	case *sqlparser.IsExpr:
		col, err := c.whereColumn(e.Left, "IS")
		if err != nil {
			return nil, err
		}
		if e.Right != sqlparser.IsNullOp && e.Right != sqlparser.IsNotNullOp {
			return nil, errorf("WHERE", "%s: only IS NULL and IS NOT NULL are supported", sqlparser.String(e))
		}
		if !col.optional {
			return nil, errorf("WHERE", "%s is never null (IS NULL applies to upstream, client_ip, country, asn, cache_status, rule and http_* columns)", col.name)
		}
		p := isNull(col)
		if e.Right == sqlparser.IsNotNullOp {
			p = not(p)
		}
		return p, nil
	case *sqlparser.XorExpr:
		return nil, errorf("WHERE", "XOR is not supported; use AND, OR and NOT")
	case *sqlparser.ColName, *sqlparser.Literal, sqlparser.BoolVal:
		return nil, errorf("WHERE", "%s is not a condition; compare it, like status >= 500", sqlparser.String(e))
	case *sqlparser.Subquery, *sqlparser.ExistsExpr:
		return nil, errorf("WHERE", "subqueries are not supported")
	default:
		if isAggregate(e) {
			return nil, errorf("WHERE", "aggregates are not allowed in WHERE")
		}
		return nil, errorf("WHERE", "unsupported expression %s", sqlparser.String(e))
	}
}

func not(p pred) pred { return func(r *Request, c *evalCtx) bool { return !p(r, c) } }

// isNull: an optional column is null when empty (text) or 0 (asn).
func isNull(col *column) pred {
	if col.kind == kindNumber {
		num := col.num
		return func(r *Request, _ *evalCtx) bool { return num(r) == 0 }
	}
	if col.str == nil { // client_ip
		return func(r *Request, _ *evalCtx) bool { return !r.ClientIP.IsValid() }
	}
	str := col.str
	return func(r *Request, _ *evalCtx) bool { return str(r) == "" }
}

func (c *compiler) whereColumn(e sqlparser.Expr, op string) (*column, error) {
	cn, ok := e.(*sqlparser.ColName)
	if !ok {
		if isAggregate(e) {
			return nil, errorf("WHERE", "aggregates are not allowed in WHERE")
		}
		return nil, errorf("WHERE", "%s needs a column on its left, not %s", op, sqlparser.String(e))
	}
	return c.column("WHERE", cn)
}

var flipped = map[sqlparser.ComparisonExprOperator]sqlparser.ComparisonExprOperator{
	sqlparser.EqualOp: sqlparser.EqualOp, sqlparser.NotEqualOp: sqlparser.NotEqualOp,
	sqlparser.LessThanOp: sqlparser.GreaterThanOp, sqlparser.GreaterThanOp: sqlparser.LessThanOp,
	sqlparser.LessEqualOp: sqlparser.GreaterEqualOp, sqlparser.GreaterEqualOp: sqlparser.LessEqualOp,
}

func (c *compiler) comparison(e *sqlparser.ComparisonExpr) (pred, error) {
	op := e.Operator
	if e.Modifier != sqlparser.Missing {
		return nil, errorf("WHERE", "ANY and ALL are not supported")
	}
	if e.Escape != nil {
		return nil, errorf("WHERE", "LIKE ... ESCAPE is not supported; \\%% and \\_ match a literal %% and _")
	}
	left, right := e.Left, e.Right
	// 500 <= status reads as status >= 500.
	if _, ok := left.(*sqlparser.ColName); !ok {
		if f, ok := flipped[op]; ok {
			if _, ok := right.(*sqlparser.ColName); ok {
				left, right, op = right, left, f
			}
		}
	}
	col, err := c.whereColumn(left, op.ToString())
	if err != nil {
		return nil, err
	}
	if _, ok := right.(*sqlparser.ColName); ok {
		return nil, errorf("WHERE", "%s: compare a column with a literal, not with a column", sqlparser.String(e))
	}
	switch op {
	case sqlparser.NullSafeEqualOp:
		return nil, errorf("WHERE", "<=> is not supported; use = or IS NULL")
	case sqlparser.InOp, sqlparser.NotInOp:
		p, err := c.in(col, right)
		if err != nil {
			return nil, err
		}
		if op == sqlparser.NotInOp {
			p = not(p)
		}
		return p, nil
	case sqlparser.LikeOp, sqlparser.NotLikeOp, sqlparser.RegexpOp, sqlparser.NotRegexpOp:
		s, err := stringLiteral(col, right, op.ToString())
		if err != nil {
			return nil, err
		}
		var match func(string) bool
		if op == sqlparser.LikeOp || op == sqlparser.NotLikeOp {
			match = like(s)
		} else {
			re, err := validate.Regexp(s)
			if err != nil {
				return nil, errorf("WHERE", "%s %s: %v", col.name, op.ToString(), err)
			}
			match = re.MatchString
		}
		p := pred(func(r *Request, x *evalCtx) bool { return match(col.text(r, x)) })
		if op == sqlparser.NotLikeOp || op == sqlparser.NotRegexpOp {
			p = not(p)
		}
		return p, nil
	}
	if col.kind == kindNumber {
		v, err := numberLiteral(col, right)
		if err != nil {
			return nil, err
		}
		num := col.num
		switch op {
		case sqlparser.EqualOp:
			return func(r *Request, _ *evalCtx) bool { return num(r) == v }, nil
		case sqlparser.NotEqualOp:
			return func(r *Request, _ *evalCtx) bool { return num(r) != v }, nil
		case sqlparser.LessThanOp:
			return func(r *Request, _ *evalCtx) bool { return num(r) < v }, nil
		case sqlparser.LessEqualOp:
			return func(r *Request, _ *evalCtx) bool { return num(r) <= v }, nil
		case sqlparser.GreaterThanOp:
			return func(r *Request, _ *evalCtx) bool { return num(r) > v }, nil
		case sqlparser.GreaterEqualOp:
			return func(r *Request, _ *evalCtx) bool { return num(r) >= v }, nil
		}
		return nil, errorf("WHERE", "operator %s is not supported", op.ToString())
	}
	s, err := stringLiteral(col, right, op.ToString())
	if err != nil {
		return nil, err
	}
	if col.str == nil && (op == sqlparser.EqualOp || op == sqlparser.NotEqualOp) { // client_ip
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, errorf("WHERE", "%s %s %q: not an IP address", col.name, op.ToString(), s)
		}
		eq := pred(func(r *Request, _ *evalCtx) bool { return r.ClientIP.Unmap() == a.Unmap() })
		if op == sqlparser.NotEqualOp {
			eq = not(eq)
		}
		return eq, nil
	}
	switch op {
	case sqlparser.EqualOp:
		return func(r *Request, x *evalCtx) bool { return col.text(r, x) == s }, nil
	case sqlparser.NotEqualOp:
		return func(r *Request, x *evalCtx) bool { return col.text(r, x) != s }, nil
	case sqlparser.LessThanOp:
		return func(r *Request, x *evalCtx) bool { return col.text(r, x) < s }, nil
	case sqlparser.LessEqualOp:
		return func(r *Request, x *evalCtx) bool { return col.text(r, x) <= s }, nil
	case sqlparser.GreaterThanOp:
		return func(r *Request, x *evalCtx) bool { return col.text(r, x) > s }, nil
	case sqlparser.GreaterEqualOp:
		return func(r *Request, x *evalCtx) bool { return col.text(r, x) >= s }, nil
	}
	return nil, errorf("WHERE", "operator %s is not supported", op.ToString())
}

func (c *compiler) in(col *column, e sqlparser.Expr) (pred, error) {
	tuple, ok := e.(sqlparser.ValTuple)
	if !ok {
		return nil, errorf("WHERE", "%s IN needs a list of literals, like ('GET', 'HEAD')", col.name)
	}
	if len(tuple) > maxInList {
		return nil, errorf("WHERE", "%s IN: %d values, at most %d", col.name, len(tuple), maxInList)
	}
	if col.kind == kindNumber {
		vals := make([]float64, 0, len(tuple))
		for _, v := range tuple {
			f, err := numberLiteral(col, v)
			if err != nil {
				return nil, err
			}
			vals = append(vals, f)
		}
		num := col.num
		return func(r *Request, _ *evalCtx) bool { return slices.Contains(vals, num(r)) }, nil
	}
	set := make(map[string]struct{}, len(tuple))
	for _, v := range tuple {
		s, err := stringLiteral(col, v, "IN")
		if err != nil {
			return nil, err
		}
		if col.str == nil { // client_ip: compare in canonical form
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, errorf("WHERE", "%s IN: %q is not an IP address", col.name, s)
			}
			s = a.Unmap().String()
		}
		set[s] = struct{}{}
	}
	if col.str == nil {
		return func(r *Request, x *evalCtx) bool {
			x.buf = r.ClientIP.Unmap().AppendTo(x.buf[:0])
			_, ok := set[string(x.buf)] // no allocation: the compiler knows the lookup
			return ok
		}, nil
	}
	str := col.str
	return func(r *Request, _ *evalCtx) bool { _, ok := set[str(r)]; return ok }, nil
}

func numberLiteral(col *column, e sqlparser.Expr) (float64, error) {
	neg := false
	if u, ok := e.(*sqlparser.UnaryExpr); ok && u.Operator == sqlparser.UMinusOp {
		neg, e = true, u.Expr
	}
	lit, ok := e.(*sqlparser.Literal)
	if !ok || lit.Type == sqlparser.StrVal || lit.Type == sqlparser.HexVal || lit.Type == sqlparser.BitNum {
		if _, null := e.(*sqlparser.NullVal); null {
			return 0, errorf("WHERE", "%s compared with NULL is never true; use IS NULL", col.name)
		}
		return 0, errorf("WHERE", "%s is a number; compare it with a number, not %s", col.name, sqlparser.String(e))
	}
	v, err := strconv.ParseFloat(lit.Val, 64)
	if err != nil {
		return 0, errorf("WHERE", "%s: %s is not a number", col.name, lit.Val)
	}
	if neg {
		v = -v
	}
	return v, nil
}

func stringLiteral(col *column, e sqlparser.Expr, op string) (string, error) {
	lit, ok := e.(*sqlparser.Literal)
	if !ok || lit.Type != sqlparser.StrVal {
		if _, null := e.(*sqlparser.NullVal); null {
			return "", errorf("WHERE", "%s compared with NULL is never true; use IS NULL", col.name)
		}
		if col.kind == kindText {
			return "", errorf("WHERE", "%s is text; compare it with a quoted string, not %s", col.name, sqlparser.String(e))
		}
		return "", errorf("WHERE", "%s %s needs a quoted string, not %s", col.name, op, sqlparser.String(e))
	}
	return lit.Val, nil
}

// like compiles a LIKE pattern (% any run, _ one character, \ escapes),
// case-sensitive, to a matcher; the common prefix, suffix and contains
// forms avoid a regexp.
func like(pattern string) func(string) bool {
	var lit strings.Builder
	var re strings.Builder
	re.WriteString(`^(?s:`)
	wild := false
	var parts []string // literal runs between %
	anyOne := false
	for i := 0; i < len(pattern); i++ {
		ch := pattern[i]
		switch {
		case ch == '\\' && i+1 < len(pattern):
			i++
			lit.WriteByte(pattern[i])
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		case ch == '%':
			wild = true
			parts = append(parts, lit.String())
			lit.Reset()
			re.WriteString(`.*`)
		case ch == '_':
			anyOne = true
			re.WriteString(`.`)
		default:
			lit.WriteByte(ch)
			re.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	parts = append(parts, lit.String())
	re.WriteString(`)$`)
	if !anyOne {
		switch {
		case !wild:
			s := parts[0]
			return func(v string) bool { return v == s }
		case len(parts) == 2:
			pre, suf := parts[0], parts[1]
			return func(v string) bool {
				return len(v) >= len(pre)+len(suf) && strings.HasPrefix(v, pre) && strings.HasSuffix(v, suf)
			}
		case len(parts) == 3 && parts[0] == "" && parts[2] == "":
			mid := parts[1]
			return func(v string) bool { return strings.Contains(v, mid) }
		}
	}
	// The pattern is at most 4 KiB of literals and wildcards: linear RE2.
	r := regexp.MustCompile(re.String())
	return r.MatchString
}
