package metricsql

import (
	"fmt"
	"strconv"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// Bounds of a definition, checked before anything else is done with it.
const (
	// MaxSQLBytes bounds the SQL text.
	MaxSQLBytes = 4096
	// MaxSelectExprs bounds the SELECT list.
	MaxSelectExprs = 16
	// MaxGroupBy bounds the GROUP BY list.
	MaxGroupBy = 8
	// MaxLimit bounds LIMIT.
	MaxLimit = 1000
	// DefaultMaxGroups is the group cap of Limits{}.
	DefaultMaxGroups = 10000
)

// Query is a compiled Metric SQL definition. It is immutable and may be
// shared by any number of aggregators.
type Query struct {
	sql     string
	columns []string
	outputs []output    // one per SELECT expression
	groups  []*column   // GROUP BY, in order
	aggs    []aggregate // aggregates of the SELECT list, in order
	where   pred        // nil: every request
	order   []orderKey
	limit   int // 0: no LIMIT
	// topN: ORDER BY count(*) DESC LIMIT N; groups beyond the cap are kept
	// by space-saving rather than counted in the other row.
	topN bool
	// used are the reqs columns the query reads, anywhere.
	used map[string]bool
}

// output is one SELECT expression: a GROUP BY column or an aggregate.
type output struct {
	agg bool
	idx int // into groups or aggs
}

type orderKey struct {
	out  int // into outputs
	desc bool
}

type aggFunc uint8

const (
	aggCountStar aggFunc = iota
	aggCount
	aggSum
	aggAvg
	aggMin
	aggMax
	aggQuantile
)

// aggregate is one aggregate of the SELECT list.
type aggregate struct {
	fn  aggFunc
	col *column // nil for count(*)
	q   float64 // quantile's rank
}

// The parser keeps no state between calls.
var parser = func() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{})
	if err != nil {
		panic(err)
	}
	return p
}()

// Compile parses and checks one Metric SQL SELECT against the reqs schema.
// Its errors are *Error naming the clause.
func Compile(sql string) (*Query, error) {
	if len(sql) > MaxSQLBytes {
		return nil, errorf("SQL", "%d bytes, at most %d", len(sql), MaxSQLBytes)
	}
	if strings.TrimSpace(sql) == "" {
		return nil, errorf("SQL", "empty; write one SELECT ... FROM reqs")
	}
	if err := precheck(sql); err != nil {
		return nil, err
	}
	stmt, err := parse(sql)
	if err != nil {
		return nil, errorf("SQL", "%s", strings.TrimPrefix(err.Error(), "syntax error "))
	}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok {
		if _, union := stmt.(*sqlparser.Union); union {
			return nil, errorf("SQL", "UNION is not supported")
		}
		return nil, errorf("SQL", "only SELECT is supported")
	}
	c := &compiler{q: &Query{sql: sql}}
	if err := c.compile(sel); err != nil {
		return nil, err
	}
	return c.q, nil
}

// precheck counts the SELECT and GROUP BY lists on the parser's tokens,
// so that a list over its bound is refused before anything is parsed.
func precheck(sql string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errorf("SQL", "the parser failed: %v", p)
		}
	}()
	tok := parser.NewStringTokenizer(sql)
	const (
		none = iota
		inSelect
		inGroupBy
	)
	mode, n, depth, prev := none, 0, 0, 0
	for {
		typ, _ := tok.Scan()
		if typ == 0 || typ == sqlparser.LEX_ERROR {
			return nil // the parser says what is wrong
		}
		switch {
		case typ == '(':
			depth++
		case typ == ')':
			depth--
		case depth != 0:
		case typ == sqlparser.SELECT:
			mode, n = inSelect, 1
		case typ == sqlparser.BY && prev == sqlparser.GROUP:
			mode, n = inGroupBy, 1
		case typ == ',' && mode != none:
			n++
			if mode == inSelect && n > MaxSelectExprs {
				return errorf("SELECT", "more than %d expressions", MaxSelectExprs)
			}
			if mode == inGroupBy && n > MaxGroupBy {
				return errorf("GROUP BY", "more than %d columns", MaxGroupBy)
			}
		case typ == sqlparser.FROM || typ == sqlparser.ORDER || typ == sqlparser.LIMIT ||
			typ == sqlparser.HAVING || typ == sqlparser.WINDOW || typ == sqlparser.UNION || typ == ';':
			mode = none
		}
		prev = typ
	}
}

// parse runs the parser, turning a panic of it into an error: a
// definition must never take a node or the service down.
func parse(sql string) (stmt sqlparser.Statement, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the parser failed: %v", p)
		}
	}()
	return parser.Parse(sql)
}

// SQL is the text the query was compiled from.
func (q *Query) SQL() string { return q.sql }

// Columns are the output column names in SELECT order: the alias, or the
// expression as written in lower case ("host", "count(*)",
// "quantile(0.99, latency_ms)").
func (q *Query) Columns() []string { return append([]string(nil), q.columns...) }

// GroupBy are the names of the GROUP BY columns, the order of
// MetricRow.keys.
func (q *Query) GroupBy() []string {
	names := make([]string, len(q.groups))
	for i, g := range q.groups {
		names[i] = g.name
	}
	return names
}

// Aggregates is the number of aggregates of the SELECT list, the length of
// MetricRow.aggs.
func (q *Query) Aggregates() int { return len(q.aggs) }

type compiler struct {
	q     *Query
	table string // the alias of reqs, if any
}

func (c *compiler) compile(sel *sqlparser.Select) error {
	switch {
	case sel.With != nil:
		return errorf("SQL", "WITH is not supported")
	case sel.Into != nil:
		return errorf("SQL", "INTO is not supported")
	case sel.Lock != sqlparser.NoLock:
		return errorf("SQL", "locking clauses are not supported")
	case len(sel.Windows) > 0:
		return errorf("SQL", "WINDOW is not supported")
	case sel.Distinct:
		return errorf("SELECT", "DISTINCT is not supported; GROUP BY the columns instead")
	case sel.Having != nil:
		return errorf("HAVING", "HAVING is not supported")
	}
	var exprs []sqlparser.SelectExpr
	if sel.SelectExprs != nil {
		exprs = sel.SelectExprs.Exprs
	}
	if len(exprs) > MaxSelectExprs {
		return errorf("SELECT", "%d expressions, at most %d", len(exprs), MaxSelectExprs)
	}
	var groupBy []sqlparser.Expr
	if sel.GroupBy != nil {
		if sel.GroupBy.WithRollup {
			return errorf("GROUP BY", "WITH ROLLUP is not supported")
		}
		groupBy = sel.GroupBy.Exprs
	}
	if len(groupBy) > MaxGroupBy {
		return errorf("GROUP BY", "%d columns, at most %d", len(groupBy), MaxGroupBy)
	}
	if err := c.from(sel.From); err != nil {
		return err
	}
	if err := c.selectList(exprs, groupBy); err != nil {
		return err
	}
	if sel.Where != nil {
		p, err := c.where(sel.Where.Expr)
		if err != nil {
			return err
		}
		c.q.where = p
	}
	if err := c.orderBy(sel.OrderBy); err != nil {
		return err
	}
	if err := c.limit(sel.Limit); err != nil {
		return err
	}
	q := c.q
	if len(q.order) > 0 && q.limit > 0 && q.order[0].desc {
		if o := q.outputs[q.order[0].out]; o.agg && q.aggs[o.idx].fn == aggCountStar {
			q.topN = true
		}
	}
	return nil
}

func (c *compiler) from(from []sqlparser.TableExpr) error {
	if len(from) == 0 {
		return errorf("FROM", "missing; write FROM reqs")
	}
	if len(from) > 1 {
		return errorf("FROM", "one table only (reqs); joins are not supported")
	}
	switch t := from[0].(type) {
	case *sqlparser.JoinTableExpr:
		return errorf("FROM", "JOIN is not supported")
	case *sqlparser.ParenTableExpr:
		return errorf("FROM", "one table only (reqs)")
	case *sqlparser.AliasedTableExpr:
		name, ok := t.Expr.(sqlparser.TableName)
		if !ok {
			return errorf("FROM", "subqueries are not supported")
		}
		if name.Qualifier.IsEmpty() && strings.EqualFold(name.Name.String(), "dual") {
			return errorf("FROM", "missing; write FROM reqs")
		}
		if !name.Qualifier.IsEmpty() || !strings.EqualFold(name.Name.String(), "reqs") {
			return errorf("FROM", "unknown table %q; the table is reqs", strings.Trim(sqlparser.String(name), "`"))
		}
		if len(t.Partitions) > 0 || t.Hints != nil || len(t.Columns) > 0 {
			return errorf("FROM", "partitions, index hints and column lists are not supported")
		}
		c.table = strings.ToLower(t.As.String())
		return nil
	default:
		return errorf("FROM", "only FROM reqs is supported")
	}
}

// column resolves a column reference in clause.
func (c *compiler) column(clause string, e *sqlparser.ColName) (*column, error) {
	if q := e.Qualifier; !q.IsEmpty() {
		t := strings.ToLower(q.Name.String())
		if !q.Qualifier.IsEmpty() || (t != "reqs" && t != c.table) {
			return nil, errorf(clause, "unknown table %q in %s", sqlparser.String(q), sqlparser.String(e))
		}
	}
	name := e.Name.Lowered()
	col, ok := lookupColumn(name)
	if !ok {
		return nil, errorf(clause, "unknown column %q (columns: %s)", name, columnList)
	}
	if c.q.used == nil {
		c.q.used = map[string]bool{}
	}
	c.q.used[col.name] = true
	return col, nil
}

// Uses reports whether the query reads a column of reqs (by its schema
// name: "country", "asn", "http_user_agent", ...), so that a caller fills
// costly columns only for queries that read them.
func (q *Query) Uses(column string) bool { return q.used[strings.ToLower(column)] }

func (c *compiler) selectList(exprs []sqlparser.SelectExpr, groupBy []sqlparser.Expr) error {
	if len(exprs) == 0 {
		return errorf("SELECT", "no expressions")
	}
	type plain struct {
		col   *column
		name  string // as written
		alias string
	}
	outs := make([]any, len(exprs)) // plain or aggregate index
	for i, se := range exprs {
		ae, ok := se.(*sqlparser.AliasedExpr)
		if !ok {
			if _, star := se.(*sqlparser.StarExpr); star {
				return errorf("SELECT", "* is not supported; name the columns and aggregates")
			}
			return errorf("SELECT", "unsupported expression %s", sqlparser.String(se))
		}
		alias := ae.As.Lowered()
		if col, ok := ae.Expr.(*sqlparser.ColName); ok {
			cl, err := c.column("SELECT", col)
			if err != nil {
				return err
			}
			name := col.Name.Lowered()
			if alias == "" {
				alias = name
			}
			outs[i] = plain{col: cl, name: name, alias: alias}
			c.q.columns = append(c.q.columns, alias)
			continue
		}
		a, name, err := c.aggregate("SELECT", ae.Expr)
		if err != nil {
			return err
		}
		if alias == "" {
			alias = name
		}
		outs[i] = len(c.q.aggs)
		c.q.aggs = append(c.q.aggs, a)
		c.q.columns = append(c.q.columns, alias)
	}
	// GROUP BY: columns, SELECT aliases of columns, or SELECT positions.
	seen := map[*column]bool{}
	for _, e := range groupBy {
		var col *column
		switch e := e.(type) {
		case *sqlparser.ColName:
			name := e.Name.Lowered()
			if e.Qualifier.IsEmpty() {
				for _, o := range outs {
					if p, ok := o.(plain); ok && p.alias == name && p.name != name {
						col = p.col
					}
				}
			}
			if col == nil {
				var err error
				if col, err = c.column("GROUP BY", e); err != nil {
					return err
				}
			}
		case *sqlparser.Literal:
			n, err := strconv.Atoi(e.Val)
			if e.Type != sqlparser.IntVal || err != nil || n < 1 || n > len(outs) {
				return errorf("GROUP BY", "%s is not a SELECT position (1..%d)", sqlparser.String(e), len(outs))
			}
			p, ok := outs[n-1].(plain)
			if !ok {
				return errorf("GROUP BY", "position %d is an aggregate", n)
			}
			col = p.col
		default:
			if isAggregate(e) {
				return errorf("GROUP BY", "aggregates are not allowed in GROUP BY")
			}
			return errorf("GROUP BY", "unsupported expression %s; group by columns", sqlparser.String(e))
		}
		if col.noGroup != "" {
			return errorf("GROUP BY", "%s: %s", col.name, col.noGroup)
		}
		if seen[col] {
			return errorf("GROUP BY", "%s twice", col.name)
		}
		seen[col] = true
		c.q.groups = append(c.q.groups, col)
	}
	for _, o := range outs {
		if i, ok := o.(int); ok {
			c.q.outputs = append(c.q.outputs, output{agg: true, idx: i})
			continue
		}
		p := o.(plain)
		idx := -1
		for j, g := range c.q.groups {
			if g == p.col || (g.name == p.col.name) {
				idx = j
			}
		}
		if idx < 0 {
			return errorf("SELECT", "%s is neither in GROUP BY nor inside an aggregate", p.name)
		}
		c.q.outputs = append(c.q.outputs, output{idx: idx})
	}
	return nil
}

func (a aggregate) same(b aggregate) bool {
	return a.fn == b.fn && a.q == b.q && (a.col == nil) == (b.col == nil) && (a.col == nil || a.col.name == b.col.name)
}

func isAggregate(e sqlparser.Expr) bool {
	switch e := e.(type) {
	case sqlparser.AggrFunc:
		return true
	case *sqlparser.FuncExpr:
		return e.Name.Lowered() == "quantile"
	}
	return false
}

// aggregate compiles one aggregate and returns its default column name.
func (c *compiler) aggregate(clause string, e sqlparser.Expr) (aggregate, string, error) {
	numberArg := func(fn string, arg sqlparser.Expr) (*column, string, error) {
		cn, ok := arg.(*sqlparser.ColName)
		if !ok {
			return nil, "", errorf(clause, "%s() takes a column, not %s", fn, sqlparser.String(arg))
		}
		col, err := c.column(clause, cn)
		if err != nil {
			return nil, "", err
		}
		if col.kind != kindNumber {
			return nil, "", errorf(clause, "%s(%s): %s is text; %s() needs a number column", fn, col.name, col.name, fn)
		}
		return col, fn + "(" + cn.Name.Lowered() + ")", nil
	}
	noDistinct := func(fn string, distinct bool, over *sqlparser.OverClause) error {
		if distinct {
			return errorf(clause, "%s(DISTINCT ...) is not supported (its state is unbounded)", fn)
		}
		if over != nil {
			return errorf(clause, "window functions (OVER) are not supported")
		}
		return nil
	}
	var a aggregate
	var name string
	var err error
	switch e := e.(type) {
	case *sqlparser.CountStar:
		if e.OverClause != nil {
			return a, "", errorf(clause, "window functions (OVER) are not supported")
		}
		return aggregate{fn: aggCountStar}, "count(*)", nil
	case *sqlparser.Count:
		if err := noDistinct("count", e.Distinct, e.OverClause); err != nil {
			return a, "", err
		}
		if len(e.Args) != 1 {
			return a, "", errorf(clause, "count() takes * or one column")
		}
		cn, ok := e.Args[0].(*sqlparser.ColName)
		if !ok {
			return a, "", errorf(clause, "count() takes * or a column, not %s", sqlparser.String(e.Args[0]))
		}
		a.fn = aggCount
		if a.col, err = c.column(clause, cn); err != nil {
			return a, "", err
		}
		return a, fmt.Sprintf("count(%s)", cn.Name.Lowered()), nil
	case *sqlparser.Sum:
		if err = noDistinct("sum", e.Distinct, e.OverClause); err == nil {
			a.fn = aggSum
			a.col, name, err = numberArg("sum", e.Arg)
		}
	case *sqlparser.Avg:
		if err = noDistinct("avg", e.Distinct, e.OverClause); err == nil {
			a.fn = aggAvg
			a.col, name, err = numberArg("avg", e.Arg)
		}
	case *sqlparser.Min:
		if err = noDistinct("min", e.Distinct, e.OverClause); err == nil {
			a.fn = aggMin
			a.col, name, err = numberArg("min", e.Arg)
		}
	case *sqlparser.Max:
		if err = noDistinct("max", e.Distinct, e.OverClause); err == nil {
			a.fn = aggMax
			a.col, name, err = numberArg("max", e.Arg)
		}
	case *sqlparser.FuncExpr:
		fn := e.Name.Lowered()
		if fn != "quantile" || !e.Qualifier.IsEmpty() {
			return a, "", errorf(clause, "unknown function %s (aggregates: count, sum, avg, min, max, quantile)", sqlparser.String(e))
		}
		if len(e.Exprs) != 2 {
			return a, "", errorf(clause, "quantile() takes a rank and a column: quantile(0.99, latency_ms)")
		}
		lit, ok := e.Exprs[0].(*sqlparser.Literal)
		var q float64
		if ok && (lit.Type == sqlparser.FloatVal || lit.Type == sqlparser.DecimalVal) {
			q, err = strconv.ParseFloat(lit.Val, 64)
		}
		if !ok || err != nil || !(q > 0 && q < 1) {
			return a, "", errorf(clause, "quantile(%s, ...): the rank must be a number between 0 and 1, like 0.99", sqlparser.String(e.Exprs[0]))
		}
		a.fn, a.q = aggQuantile, q
		if a.col, _, err = numberArg("quantile", e.Exprs[1]); err != nil {
			return a, "", err
		}
		return a, "quantile(" + lit.Val + ", " + e.Exprs[1].(*sqlparser.ColName).Name.Lowered() + ")", nil
	case sqlparser.AggrFunc:
		return a, "", errorf(clause, "%s() is not supported (aggregates: count, sum, avg, min, max, quantile)", strings.ToLower(e.AggrName()))
	default:
		return a, "", errorf(clause, "unsupported expression %s; select GROUP BY columns and aggregates", sqlparser.String(e))
	}
	return a, name, err
}

func (c *compiler) orderBy(order sqlparser.OrderBy) error {
	for _, o := range order {
		out := -1
		switch e := o.Expr.(type) {
		case *sqlparser.ColName:
			name := e.Name.Lowered()
			for i, col := range c.q.columns {
				if col == name {
					out = i
				}
			}
			if out < 0 {
				return errorf("ORDER BY", "%s is not a column of the SELECT list (%s)", name, strings.Join(c.q.columns, ", "))
			}
		case *sqlparser.Literal:
			n, err := strconv.Atoi(e.Val)
			if e.Type != sqlparser.IntVal || err != nil || n < 1 || n > len(c.q.columns) {
				return errorf("ORDER BY", "%s is not a SELECT position (1..%d)", sqlparser.String(e), len(c.q.columns))
			}
			out = n - 1
		default:
			if !isAggregate(e) {
				return errorf("ORDER BY", "unsupported expression %s; order by a column of the SELECT list", sqlparser.String(e))
			}
			a, _, err := c.aggregate("ORDER BY", e)
			if err != nil {
				return err
			}
			for i, po := range c.q.outputs {
				if po.agg && c.q.aggs[po.idx].same(a) {
					out = i
				}
			}
			if out < 0 {
				return errorf("ORDER BY", "%s is not in the SELECT list", sqlparser.String(e))
			}
		}
		c.q.order = append(c.q.order, orderKey{out: out, desc: o.Direction == sqlparser.DescOrder})
	}
	return nil
}

func (c *compiler) limit(l *sqlparser.Limit) error {
	if l == nil {
		return nil
	}
	if l.Offset != nil {
		return errorf("LIMIT", "OFFSET is not supported")
	}
	lit, ok := l.Rowcount.(*sqlparser.Literal)
	n, err := 0, error(nil)
	if ok && lit.Type == sqlparser.IntVal {
		n, err = strconv.Atoi(lit.Val)
	}
	if !ok || lit.Type != sqlparser.IntVal || err != nil || n < 1 || n > MaxLimit {
		return errorf("LIMIT", "%s: must be a number from 1 to %d", sqlparser.String(l.Rowcount), MaxLimit)
	}
	c.q.limit = n
	return nil
}
