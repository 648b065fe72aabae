package provider

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The Terraform schemas mirror the proto messages field by field (same snake
// case names), so one converter serves every resource: a new proto field is a
// new attribute, and nothing is mapped by hand.

// toProto sets the fields of m named by the attributes of obj (null and
// unknown attributes stay unset); attributes without a field are ignored.
func toProto(obj tftypes.Value, m protoreflect.Message, at string) error {
	if obj.IsNull() || !obj.IsKnown() {
		return nil
	}
	var attrs map[string]tftypes.Value
	if err := obj.As(&attrs); err != nil {
		return fmt.Errorf("%s: %w", at, err)
	}
	fields := m.Descriptor().Fields()
	for name, v := range attrs {
		fd := fields.ByName(protoreflect.Name(name))
		if fd == nil || v.IsNull() || !v.IsKnown() {
			continue
		}
		p := join(at, name)
		switch {
		case fd.IsMap():
			var elems map[string]tftypes.Value
			if err := v.As(&elems); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			mp := m.Mutable(fd).Map()
			for k, e := range elems {
				key, err := scalarFromString(fd.MapKey(), k)
				if err != nil {
					return fmt.Errorf("%s[%q]: %w", p, k, err)
				}
				val, err := scalarToProto(fd.MapValue(), e)
				if err != nil {
					return fmt.Errorf("%s[%q]: %w", p, k, err)
				}
				mp.Set(key.MapKey(), val)
			}
		case fd.IsList():
			var elems []tftypes.Value
			if err := v.As(&elems); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			l := m.Mutable(fd).List()
			for i, e := range elems {
				ep := fmt.Sprintf("%s[%d]", p, i)
				if fd.Kind() == protoreflect.MessageKind {
					el := l.NewElement()
					if err := toProto(e, el.Message(), ep); err != nil {
						return err
					}
					l.Append(el)
					continue
				}
				val, err := scalarToProto(fd, e)
				if err != nil {
					return fmt.Errorf("%s: %w", ep, err)
				}
				l.Append(val)
			}
		case fd.Kind() == protoreflect.MessageKind:
			if err := toProto(v, m.Mutable(fd).Message(), p); err != nil {
				return err
			}
		default:
			val, err := scalarToProto(fd, v)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			m.Set(fd, val)
		}
	}
	return nil
}

// fromProto builds a value of typ from m. ref (the plan or the prior state)
// decides how empty lists, maps and messages read: null unless ref holds an
// empty one. Attributes without a field take ref's value.
func fromProto(m protoreflect.Message, typ tftypes.Object, ref tftypes.Value) (tftypes.Value, error) {
	refs := attrsOf(ref)
	out := make(map[string]tftypes.Value, len(typ.AttributeTypes))
	fields := m.Descriptor().Fields()
	for name, at := range typ.AttributeTypes {
		fd := fields.ByName(protoreflect.Name(name))
		r, hasRef := refs[name]
		if !hasRef {
			r = tftypes.NewValue(at, nil)
		}
		if fd == nil {
			out[name] = r
			continue
		}
		v, err := fieldFromProto(m, fd, at, r)
		if err != nil {
			return tftypes.Value{}, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = v
	}
	return tftypes.NewValue(typ, out), nil
}

func fieldFromProto(m protoreflect.Message, fd protoreflect.FieldDescriptor, typ tftypes.Type, ref tftypes.Value) (tftypes.Value, error) {
	null := tftypes.NewValue(typ, nil)
	refKnown := ref.IsKnown() && !ref.IsNull()
	switch {
	case fd.IsMap():
		mp := m.Get(fd).Map()
		et := typ.(tftypes.Map).ElementType
		if mp.Len() == 0 {
			if refKnown && lenOf(ref) == 0 {
				return ref, nil
			}
			return null, nil
		}
		elems := map[string]tftypes.Value{}
		var err error
		mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			key := k.String()
			elems[key], err = scalarFromProto(fd.MapValue(), v, et)
			return err == nil
		})
		if err != nil {
			return null, err
		}
		return tftypes.NewValue(typ, elems), nil
	case fd.IsList():
		l := m.Get(fd).List()
		et := typ.(tftypes.List).ElementType
		if l.Len() == 0 {
			if refKnown && lenOf(ref) == 0 {
				return ref, nil
			}
			return null, nil
		}
		var refs []tftypes.Value
		if refKnown {
			_ = ref.As(&refs)
		}
		elems := make([]tftypes.Value, l.Len())
		for i := range l.Len() {
			r := tftypes.NewValue(et, nil)
			if i < len(refs) {
				r = refs[i]
			}
			var err error
			if fd.Kind() == protoreflect.MessageKind {
				elems[i], err = fromProto(l.Get(i).Message(), et.(tftypes.Object), r)
			} else {
				elems[i], err = scalarFromProto(fd, l.Get(i), et)
			}
			if err != nil {
				return null, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return tftypes.NewValue(typ, elems), nil
	case fd.Kind() == protoreflect.MessageKind:
		if !m.Has(fd) && !refKnown {
			return null, nil
		}
		return fromProto(m.Get(fd).Message(), typ.(tftypes.Object), ref)
	default:
		return scalarFromProto(fd, m.Get(fd), typ)
	}
}

// scalarFromProto converts one value. Scalars are never null: an unset
// field reads as its zero value, the attribute's default (schema.go).
func scalarFromProto(fd protoreflect.FieldDescriptor, v protoreflect.Value, typ tftypes.Type) (tftypes.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return tftypes.NewValue(typ, v.String()), nil
	case protoreflect.BoolKind:
		return tftypes.NewValue(typ, v.Bool()), nil
	case protoreflect.EnumKind:
		return tftypes.NewValue(typ, enumName(fd.Enum(), v.Enum())), nil
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
		return tftypes.NewValue(typ, new(big.Float).SetUint64(v.Uint())), nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return tftypes.NewValue(typ, new(big.Float).SetInt64(v.Int())), nil
	}
	return tftypes.Value{}, fmt.Errorf("unsupported field kind %s", fd.Kind())
}

func scalarToProto(fd protoreflect.FieldDescriptor, v tftypes.Value) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		var s string
		err := v.As(&s)
		return protoreflect.ValueOfString(s), err
	case protoreflect.BoolKind:
		var b bool
		err := v.As(&b)
		return protoreflect.ValueOfBool(b), err
	case protoreflect.EnumKind:
		var s string
		if err := v.As(&s); err != nil || s == "" {
			return protoreflect.ValueOfEnum(0), err
		}
		n, err := enumNumber(fd.Enum(), s)
		return protoreflect.ValueOfEnum(n), err
	}
	var f big.Float
	if err := v.As(&f); err != nil {
		return protoreflect.Value{}, err
	}
	return numberToProto(fd, &f)
}

func numberToProto(fd protoreflect.FieldDescriptor, f *big.Float) (protoreflect.Value, error) {
	if !f.IsInt() {
		return protoreflect.Value{}, fmt.Errorf("%s is not a whole number", f.String())
	}
	switch fd.Kind() {
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		u, acc := f.Uint64()
		if acc != big.Exact || u > 1<<32-1 {
			return protoreflect.Value{}, fmt.Errorf("%s is out of range (0 to 4294967295)", f.String())
		}
		return protoreflect.ValueOfUint32(uint32(u)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		u, acc := f.Uint64()
		if acc != big.Exact {
			return protoreflect.Value{}, fmt.Errorf("%s is out of range (at least 0)", f.String())
		}
		return protoreflect.ValueOfUint64(u), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind:
		i, acc := f.Int64()
		if acc != big.Exact || i != int64(int32(i)) {
			return protoreflect.Value{}, fmt.Errorf("%s is out of range", f.String())
		}
		return protoreflect.ValueOfInt32(int32(i)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind:
		i, acc := f.Int64()
		if acc != big.Exact {
			return protoreflect.Value{}, fmt.Errorf("%s is out of range", f.String())
		}
		return protoreflect.ValueOfInt64(i), nil
	}
	return protoreflect.Value{}, fmt.Errorf("unsupported field kind %s", fd.Kind())
}

// scalarFromString parses a map key (Terraform map keys are strings).
func scalarFromString(fd protoreflect.FieldDescriptor, s string) (protoreflect.Value, error) {
	if fd.Kind() == protoreflect.StringKind {
		return protoreflect.ValueOfString(s), nil
	}
	f, ok := new(big.Float).SetString(s)
	if !ok {
		return protoreflect.Value{}, fmt.Errorf("key %q is not a number", s)
	}
	return numberToProto(fd, f)
}

// Enum values read as their name without the enum's prefix, in lower case:
// BALANCE_POLICY_ROUND_ROBIN is "round_robin", RECORD_TYPE_A is "A" (record
// types keep their upper case: that is how DNS spells them).
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	name := string(ed.Name())
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String()) + "_"
}

func keepsCase(ed protoreflect.EnumDescriptor) bool { return ed.Name() == "RecordType" }

func enumName(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) string {
	if n == 0 {
		return "" // unspecified: the attribute's default
	}
	v := ed.Values().ByNumber(n)
	if v == nil {
		return strconv.Itoa(int(n))
	}
	s := strings.TrimPrefix(string(v.Name()), enumPrefix(ed))
	if keepsCase(ed) {
		return s
	}
	return strings.ToLower(s)
}

func enumNumber(ed protoreflect.EnumDescriptor, s string) (protoreflect.EnumNumber, error) {
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		if v.Number() != 0 && enumName(ed, v.Number()) == s {
			return v.Number(), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(enumNames(ed), ", "))
}

// enumNames are the values an enum attribute takes, for errors and docs.
func enumNames(ed protoreflect.EnumDescriptor) []string {
	var names []string
	for i := range ed.Values().Len() {
		if n := ed.Values().Get(i).Number(); n != 0 {
			names = append(names, strconv.Quote(enumName(ed, n)))
		}
	}
	sort.Strings(names)
	return names
}

func attrsOf(v tftypes.Value) map[string]tftypes.Value {
	out := map[string]tftypes.Value{}
	if v.IsKnown() && !v.IsNull() {
		_ = v.As(&out)
	}
	return out
}

func lenOf(v tftypes.Value) int {
	switch {
	case v.Type().Is(tftypes.List{}):
		var l []tftypes.Value
		_ = v.As(&l)
		return len(l)
	case v.Type().Is(tftypes.Map{}):
		var m map[string]tftypes.Value
		_ = v.As(&m)
		return len(m)
	}
	return -1
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}
