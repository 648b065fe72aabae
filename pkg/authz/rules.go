package authz

import (
	"slices"
	"sort"
)

// Scope says how a Rule's permission is checked.
type Scope int

const (
	// ScopePublic: no caller needed (login, node join). The RPC
	// authenticates its caller itself, or needs no authentication.
	ScopePublic Scope = iota + 1
	// ScopeAuthenticated: any authenticated caller; the handler decides the
	// rest (own tokens, own password, who am I).
	ScopeAuthenticated
	// ScopeEverywhere: the permission over everything (creating partitions,
	// IAM).
	ScopeEverywhere
	// ScopeSomewhere: the permission over at least one object. Used by list
	// calls, whose responses are then filtered (Rule.Filters) to the objects
	// the caller holds the permission over.
	ScopeSomewhere
	// ScopeObject: the permission over every object named in the request
	// (Rule.Objects).
	ScopeObject
)

// Rule is what one RPC needs.
type Rule struct {
	Permission string
	Scope      Scope
	// Objects name the request fields that hold the objects the call acts on
	// (ScopeObject).
	Objects []ObjectRef
	// Filters drop the elements of the response's lists that the caller
	// does not hold Permission over (ScopeSomewhere).
	Filters []ListFilter
}

// ObjectRef is a request field holding an object's id or name: a string or a
// repeated string field of the request message.
type ObjectRef struct {
	Kind  string
	Field string
	// Default is the object the service uses when the field is empty.
	Default string
}

// ListFilter names a repeated message field of a response and where each
// element keeps its object id ("id", or a dotted path such as "node.id").
type ListFilter struct {
	Field  string
	Kind   string
	IDPath string
}

// Public returns a rule for RPCs open to unauthenticated callers.
func Public() Rule { return Rule{Scope: ScopePublic} }

// Authenticated returns a rule for RPCs open to every authenticated caller.
func Authenticated() Rule { return Rule{Scope: ScopeAuthenticated} }

// Everywhere returns a rule that needs perm over everything.
func Everywhere(perm string) Rule { return Rule{Permission: perm, Scope: ScopeEverywhere} }

// Somewhere returns a rule that needs perm over something, and filters the
// response's lists to what the caller holds perm over.
func Somewhere(perm string, filters ...ListFilter) Rule {
	return Rule{Permission: perm, Scope: ScopeSomewhere, Filters: filters}
}

// OnObjects returns a rule that needs perm over the objects named in the
// request.
func OnObjects(perm string, refs ...ObjectRef) Rule {
	return Rule{Permission: perm, Scope: ScopeObject, Objects: refs}
}

// Ref is a shorthand for ObjectRef{Kind: kind, Field: field}.
func Ref(kind, field string) ObjectRef { return ObjectRef{Kind: kind, Field: field} }

// List is a shorthand for a ListFilter.
func List(field, kind, idPath string) ListFilter {
	return ListFilter{Field: field, Kind: kind, IDPath: idPath}
}

// Rules maps full procedure names ("/strata.config.v1.ConfigService/GetApp")
// to what they need.
type Rules map[string]Rule

// PublicProcedures returns the procedures of public rules, sorted: the
// authentication interceptor must let them through
// (apiauth.WithPublicProcedures).
func (r Rules) PublicProcedures() []string {
	var out []string
	for p, rule := range r {
		if rule.Scope == ScopePublic {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Permissions returns every permission named by a rule or checked by a
// handler, sorted: what custom roles may contain.
func (r Rules) Permissions() []string {
	out := slices.Clone(handlerPermissions)
	for _, rule := range r {
		if rule.Permission != "" && !slices.Contains(out, rule.Permission) {
			out = append(out, rule.Permission)
		}
	}
	sort.Strings(out)
	return out
}

// Procedures returns the procedures that need perm, sorted.
func (r Rules) Procedures(perm string) []string {
	var out []string
	for p, rule := range r {
		if rule.Permission == perm {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
