package listfilter

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/strata-edge/strata/pkg/apierr"
)

// Page sizes of every List RPC (AIP-158).
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// tokenVersion starts every token so a later format is told apart.
const tokenVersion = "p1"

// Request is what a List request carries: page_size, page_token and filter.
// Scope is anything else that selects the list (a cluster, an app id): a
// token is only valid for the same filter and scope.
type Request struct {
	PageSize  int32
	PageToken string
	Filter    string
	Scope     string
}

// Page is a checked Request: the size to return, the sort key to continue
// after ("" for the first page) and the compiled filter.
type Page[T any] struct {
	Size   int
	After  string
	Filter *Filter[T]
	hash   string
}

// Start checks r against schema: a page_size out of range, a filter that
// does not parse or names an unknown field, and a page_token that is not
// one of ours or was issued for another filter or scope are refused with
// apierr.Invalid naming the field.
func Start[T any](schema Schema[T], r Request) (*Page[T], error) {
	var vs apierr.Fields
	p := &Page[T]{Size: DefaultPageSize, hash: queryHash(r.Filter, r.Scope)}
	switch {
	case r.PageSize < 0:
		vs.Add("page_size", "must not be negative")
	case r.PageSize > MaxPageSize:
		vs.Addf("page_size", "at most %d", MaxPageSize)
	case r.PageSize > 0:
		p.Size = int(r.PageSize)
	}
	f, err := schema.Compile(r.Filter)
	if err != nil {
		vs.Add("filter", err.Error())
	}
	p.Filter = f
	if r.PageToken != "" {
		after, err := decodeToken(r.PageToken, p.hash)
		if err != nil {
			vs.Add("page_token", err.Error())
		}
		p.After = after
	}
	if err := vs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Token is the next_page_token continuing after sort key last.
func (p *Page[T]) Token(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenVersion + "\x00" + p.hash + "\x00" + last))
}

// Slice pages items already in sort order by key (ascending, unique keys):
// the first Size items matching the filter with a key after After, and the
// token of the next page ("" on the last).
func (p *Page[T]) Slice(items []T, key func(T) string) ([]T, string) {
	var c Collector[T]
	for _, it := range items {
		if !p.Add(&c, key(it), func() T { return it }) {
			break
		}
	}
	return c.items, c.next
}

// Collector gathers one page for Add; Result is the page and its token.
type Collector[T any] struct {
	items []T
	last  string
	next  string
}

// Add offers the item of sort key k (ascending from one call to the next;
// get builds it) to the page in c; false when the page is full and the
// caller should stop. Items with a key up to After or not matching the
// filter are skipped.
func (p *Page[T]) Add(c *Collector[T], k string, get func() T) bool {
	if p.After != "" && k <= p.After {
		return true
	}
	it := get()
	if !p.Filter.Match(it) {
		return true
	}
	if len(c.items) == p.Size {
		c.next = p.Token(c.last)
		return false
	}
	c.items, c.last = append(c.items, it), k
	return true
}

// Result is the page gathered and the token of the next ("" on the last).
func (c *Collector[T]) Result() ([]T, string) { return c.items, c.next }

// Key joins the parts of a composite sort key so that keys compare as
// the tuples do (parts must not contain "\x00").
func Key(parts ...string) string { return strings.Join(parts, "\x00") }

func queryHash(filter, scope string) string {
	h := fnv.New64a()
	h.Write([]byte(strings.TrimSpace(filter)))
	h.Write([]byte{0})
	h.Write([]byte(scope))
	return fmt.Sprintf("%016x", h.Sum64())
}

func decodeToken(tok, hash string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("not a token this list returned")
	}
	parts := strings.SplitN(string(b), "\x00", 3)
	if len(parts) != 3 || parts[0] != tokenVersion || parts[2] == "" {
		return "", fmt.Errorf("not a token this list returned")
	}
	if parts[1] != hash {
		return "", fmt.Errorf("issued for another filter or scope: send the same filter as the first page, or no page_token")
	}
	return parts[2], nil
}

// Paged is Start and Slice in one: one page of items (sorted by key) for
// a List request, its next_page_token, or the field errors of r.
func Paged[T any](schema Schema[T], r Request, items []T, key func(T) string) ([]T, string, error) {
	p, err := Start(schema, r)
	if err != nil {
		return nil, "", err
	}
	page, next := p.Slice(items, key)
	return page, next, nil
}

// Asc and Desc are sort keys of numbers for lists in ascending or
// descending order (Slice wants keys ascending in list order).
func Asc(n uint64) string  { return fmt.Sprintf("%020d", n) }
func Desc(n uint64) string { return fmt.Sprintf("%020d", ^n) }
