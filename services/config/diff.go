package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/redact"
	"github.com/strata-edge/strata/pkg/release"
)

// summarize describes one pending event in one line, given the working copy
// just before it (nil before the app was created).
func summarize(before *configv1.App, msg proto.Message) string {
	switch e := msg.(type) {
	case *ev.AppCreated:
		return "app " + e.Settings.GetName() + " created: " + describe(e.Settings, "")
	case *ev.AppUpdated:
		return "app " + before.GetName() + " updated: " + changes(settingsOf(before), e.Settings)
	case *ev.AppDeleted:
		return "app " + before.GetName() + " deleted"
	case *ev.UpstreamCreated:
		return "upstream " + e.Upstream.GetName() + " created: " + describe(e.Upstream, "id", "name")
	case *ev.UpstreamUpdated:
		old := &configv1.Upstream{}
		if i := findUpstream(before, e.Upstream.GetId()); i >= 0 {
			old = before.Upstreams[i]
		}
		return "upstream " + old.GetName() + " updated: " + changes(old, e.Upstream, "id")
	case *ev.UpstreamDeleted:
		return "upstream " + nameIn(before.GetUpstreams(), e.UpstreamId) + " deleted"
	case *ev.RuleCreated:
		return fmt.Sprintf("rule %s created at position %d: %s", e.Rule.GetName(), e.Index, describe(e.Rule, "id", "name"))
	case *ev.RuleUpdated:
		old := &configv1.Rule{}
		if i := findRule(before, e.Rule.GetId()); i >= 0 {
			old = before.Rules[i]
		}
		return "rule " + old.GetName() + " updated: " + changes(old, e.Rule, "id")
	case *ev.RuleDeleted:
		return "rule " + nameIn(before.GetRules(), e.RuleId) + " deleted"
	case *ev.RuleMoved:
		return fmt.Sprintf("rule %s moved from position %d to %d", nameIn(before.GetRules(), e.RuleId), findRule(before, e.RuleId), e.Index)
	}
	t, _ := configevents.TypeOf(msg)
	return t
}

// nameIn is the name of the object with id (or name) ref in list, or ref
// when there is none.
func nameIn[O release.Object](list []O, ref string) string {
	if i := release.Find(list, ref); i >= 0 {
		return list[i].GetName()
	}
	return ref
}

// describe renders the set fields of m as "field value; field value".
func describe(m proto.Message, skip ...string) string {
	r := m.ProtoReflect()
	var parts []string
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if skipped(f, skip) || !r.Has(f) {
			continue
		}
		parts = append(parts, string(f.Name())+" "+renderField(f, r.Get(f)))
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	return strings.Join(parts, "; ")
}

// changes renders the fields that differ between old and cur as
// "field old -> new; ...".
func changes(old, cur proto.Message, skip ...string) string {
	o, c := old.ProtoReflect(), cur.ProtoReflect()
	var parts []string
	fields := c.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if skipped(f, skip) {
			continue
		}
		before, after := renderPresent(o, f), renderPresent(c, f)
		if before != after {
			parts = append(parts, string(f.Name())+" "+before+" -> "+after)
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

func skipped(f protoreflect.FieldDescriptor, skip []string) bool {
	for _, s := range skip {
		if string(f.Name()) == s {
			return true
		}
	}
	return false
}

func renderPresent(m protoreflect.Message, f protoreflect.FieldDescriptor) string {
	if !m.Has(f) {
		if !f.HasPresence() && !f.IsList() && !f.IsMap() {
			return renderValue(f, f.Default()) // proto3 scalar: unset is its zero value
		}
		return "(none)"
	}
	return renderField(f, m.Get(f))
}

func renderField(f protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch {
	case f.IsList():
		l := v.List()
		items := make([]string, l.Len())
		for i := range items {
			items[i] = renderValue(f, l.Get(i))
		}
		return strings.Join(items, ", ")
	case f.IsMap():
		var items []string
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			items = append(items, k.String()+"="+renderValue(f.MapValue(), mv))
			return true
		})
		slices.Sort(items)
		return strings.Join(items, ", ")
	}
	return renderValue(f, v)
}

func renderValue(f protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch f.Kind() {
	case protoreflect.StringKind:
		s := v.String()
		if s == "" || strings.ContainsAny(s, " \t\n\",;=") {
			return strconv.Quote(s)
		}
		return s
	case protoreflect.EnumKind:
		ed := f.Enum().Values().ByNumber(v.Enum())
		if ed == nil {
			return strconv.Itoa(int(v.Enum()))
		}
		name := string(ed.Name())
		// BALANCE_POLICY_ROUND_ROBIN -> ROUND_ROBIN
		prefix := strings.ToUpper(snake(string(f.Enum().Name()))) + "_"
		return strings.TrimPrefix(name, prefix)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return renderMessage(v.Message().Interface())
	}
	return v.String()
}

// renderMessage renders a message compactly; servers and split targets as
// "address=weight".
func renderMessage(m proto.Message) string {
	switch x := m.(type) {
	case *configv1.Server:
		s := x.Address + "=" + strconv.Itoa(int(x.Weight))
		if x.Backup {
			s += " (backup)"
		}
		return s
	case *configv1.WeightedUpstream:
		return x.Upstream + "=" + strconv.Itoa(int(x.Weight))
	case *configv1.Action:
		r := x.ProtoReflect()
		if od := r.WhichOneof(r.Descriptor().Oneofs().ByName("action")); od != nil {
			return string(od.Name()) + " " + renderMessage(r.Get(od).Message().Interface())
		}
		return "(no action)"
	}
	r := m.ProtoReflect()
	var parts []string
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if r.Has(f) {
			parts = append(parts, string(f.Name())+":"+renderField(f, r.Get(f)))
		}
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// snake turns "BalancePolicy" into "balance_policy".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// canonicalJSON renders m as protojson with proto field names, indented by
// two spaces. protojson orders fields by declaration and map keys sorted;
// re-indenting removes its deliberately unstable whitespace.
func canonicalJSON(m proto.Message) (string, error) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("marshal json: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return "", fmt.Errorf("indent json: %w", err)
	}
	out.WriteByte('\n')
	return out.String(), nil
}

// snapshotJSON is canonicalJSON of a copy of snap without its secrets (the
// certificates' wrapped keys): what GetSnapshot shows to any holder of
// config.snapshot.read.
func snapshotJSON(snap *syncv1.Snapshot) (string, error) {
	return canonicalJSON(redact.Clone(snap))
}
