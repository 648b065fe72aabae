package listfilter

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a filterable field.
type Kind int

// The kinds of fields.
const (
	KindString Kind = iota + 1
	KindStrings
	KindNumber
	KindTime
	KindBool
	KindMap
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindStrings:
		return "repeated string"
	case KindNumber:
		return "number"
	case KindTime:
		return "timestamp"
	case KindBool:
		return "boolean"
	case KindMap:
		return "map"
	}
	return "unknown"
}

// Field is one filterable field of T: a kind and its accessor.
type Field[T any] struct {
	kind    Kind
	str     func(T) string
	strs    func(T) []string
	num     func(T) float64
	tim     func(T) time.Time
	boolean func(T) bool
	mp      func(T) map[string]string
}

// String is a string field.
func String[T any](get func(T) string) Field[T] { return Field[T]{kind: KindString, str: get} }

// Strings is a repeated string field (":" tests membership).
func Strings[T any](get func(T) []string) Field[T] { return Field[T]{kind: KindStrings, strs: get} }

// Number is a numeric field.
func Number[T any](get func(T) float64) Field[T] { return Field[T]{kind: KindNumber, num: get} }

// Time is a timestamp field; values are RFC 3339.
func Time[T any](get func(T) time.Time) Field[T] { return Field[T]{kind: KindTime, tim: get} }

// Bool is a boolean field.
func Bool[T any](get func(T) bool) Field[T] { return Field[T]{kind: KindBool, boolean: get} }

// Map is a map field: "labels.k = v" compares one value, "labels:k" tests
// the key.
func Map[T any](get func(T) map[string]string) Field[T] { return Field[T]{kind: KindMap, mp: get} }

// Schema is the filterable fields of one List RPC, by name.
type Schema[T any] map[string]Field[T]

// Filter is a compiled filter over T. The nil *Filter matches everything.
type Filter[T any] struct {
	text  string
	expr  Expr
	match func(T) bool
}

// Compile parses filter and checks it against the schema. The empty filter
// gives a nil *Filter (matches all).
func (s Schema[T]) Compile(filter string) (*Filter[T], error) {
	e, err := Parse(filter)
	if err != nil || e == nil {
		return nil, err
	}
	m, err := s.compile(e)
	if err != nil {
		return nil, err
	}
	return &Filter[T]{text: filter, expr: e, match: m}, nil
}

// Match reports whether v passes the filter.
func (f *Filter[T]) Match(v T) bool { return f == nil || f.match(v) }

// Expr is the parsed filter (nil for the nil *Filter).
func (f *Filter[T]) Expr() Expr {
	if f == nil {
		return nil
	}
	return f.expr
}

// Conjuncts are the comparisons every match satisfies: the Cmp terms of the
// filter's top-level AND chain (none under OR or NOT). A service picks an
// index from them and still checks Match on each candidate.
func (f *Filter[T]) Conjuncts() []*Cmp {
	if f == nil {
		return nil
	}
	var out []*Cmp
	var walk func(Expr)
	walk = func(e Expr) {
		switch e := e.(type) {
		case *And:
			walk(e.L)
			walk(e.R)
		case *Cmp:
			out = append(out, e)
		}
	}
	walk(f.expr)
	return out
}

func (s Schema[T]) names() string {
	return strings.Join(slices.Sorted(maps.Keys(s)), ", ")
}

func (s Schema[T]) compile(e Expr) (func(T) bool, error) {
	switch e := e.(type) {
	case *And:
		l, err := s.compile(e.L)
		if err != nil {
			return nil, err
		}
		r, err := s.compile(e.R)
		if err != nil {
			return nil, err
		}
		return func(v T) bool { return l(v) && r(v) }, nil
	case *Or:
		l, err := s.compile(e.L)
		if err != nil {
			return nil, err
		}
		r, err := s.compile(e.R)
		if err != nil {
			return nil, err
		}
		return func(v T) bool { return l(v) || r(v) }, nil
	case *Not:
		x, err := s.compile(e.X)
		if err != nil {
			return nil, err
		}
		return func(v T) bool { return !x(v) }, nil
	case *Cmp:
		return s.cmp(e)
	}
	return nil, &Error{Reason: "bad expression"}
}

func (s Schema[T]) cmp(c *Cmp) (func(T) bool, error) {
	name, key, dotted := strings.Cut(c.Field, ".")
	f, ok := s[c.Field]
	if !ok {
		f, ok = s[name]
		if !ok || f.kind != KindMap {
			return nil, &Error{Pos: c.Pos, Reason: fmt.Sprintf("unknown field %q (filterable: %s)", c.Field, s.names())}
		}
	} else {
		dotted = false
	}
	bad := func(format string, a ...any) error {
		return &Error{Pos: c.Pos, Reason: fmt.Sprintf("%s: ", c.Field) + fmt.Sprintf(format, a...)}
	}
	switch f.kind {
	case KindString:
		get := f.str
		return stringCmp(c, get, bad)
	case KindStrings:
		get := f.strs
		switch c.Op {
		case OpHas, OpEq:
			p := Compile(c.Value)
			return func(v T) bool { return slices.ContainsFunc(get(v), p.Match) }, nil
		case OpNe:
			p := Compile(c.Value)
			return func(v T) bool { return !slices.ContainsFunc(get(v), p.Match) }, nil
		}
		return nil, bad("%s is not defined on a repeated field (use :)", c.Op)
	case KindMap:
		get := f.mp
		if !dotted {
			if c.Op != OpHas {
				return nil, bad(`use %s:"key" to test a key or %s.key = "value" to compare a value`, name, name)
			}
			p := Compile(c.Value)
			return func(v T) bool {
				for k := range get(v) {
					if p.Match(k) {
						return true
					}
				}
				return false
			}, nil
		}
		if c.Op == OpHas && c.Value == "*" {
			return func(v T) bool { _, ok := get(v)[key]; return ok }, nil
		}
		return stringCmp(c, func(v T) string { return get(v)[key] }, bad)
	case KindNumber:
		n, err := strconv.ParseFloat(c.Value, 64)
		if err != nil {
			return nil, bad("%q is not a number", c.Value)
		}
		get := f.num
		return ordered(c.Op, func(v T) int { return cmpFloat(get(v), n) }, bad)
	case KindTime:
		t, err := time.Parse(time.RFC3339Nano, c.Value)
		if err != nil {
			return nil, bad("%q is not an RFC 3339 time such as \"2026-01-01T00:00:00Z\"", c.Value)
		}
		get := f.tim
		return ordered(c.Op, func(v T) int { return get(v).Compare(t) }, bad)
	case KindBool:
		var b bool
		switch c.Value {
		case "true":
			b = true
		case "false":
		default:
			return nil, bad("%q is not true or false", c.Value)
		}
		get := f.boolean
		switch c.Op {
		case OpEq:
			return func(v T) bool { return get(v) == b }, nil
		case OpNe:
			return func(v T) bool { return get(v) != b }, nil
		}
		return nil, bad("%s is not defined on a boolean (use = or !=)", c.Op)
	}
	return nil, bad("unsupported field kind")
}

func stringCmp[T any](c *Cmp, get func(T) string, bad func(string, ...any) error) (func(T) bool, error) {
	switch c.Op {
	case OpEq:
		p := Compile(c.Value)
		return func(v T) bool { return p.Match(get(v)) }, nil
	case OpNe:
		p := Compile(c.Value)
		return func(v T) bool { return !p.Match(get(v)) }, nil
	case OpHas:
		// Contains, unless the value has its own wildcards.
		p := Compile(c.Value)
		if !p.Wild() {
			p = Compile("*" + c.Value + "*")
		}
		return func(v T) bool { return p.Match(get(v)) }, nil
	}
	lit := Compile(c.Value).Literal()
	return ordered(c.Op, func(v T) int { return strings.Compare(get(v), lit) }, bad)
}

func ordered[T any](op Op, cmp func(T) int, bad func(string, ...any) error) (func(T) bool, error) {
	switch op {
	case OpEq:
		return func(v T) bool { return cmp(v) == 0 }, nil
	case OpNe:
		return func(v T) bool { return cmp(v) != 0 }, nil
	case OpLt:
		return func(v T) bool { return cmp(v) < 0 }, nil
	case OpLe:
		return func(v T) bool { return cmp(v) <= 0 }, nil
	case OpGt:
		return func(v T) bool { return cmp(v) > 0 }, nil
	case OpGe:
		return func(v T) bool { return cmp(v) >= 0 }, nil
	}
	return nil, bad("%s is not defined here", op)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
