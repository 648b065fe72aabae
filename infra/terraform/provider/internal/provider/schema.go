package provider

import (
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fieldOpts says how the top-level fields of a message become attributes;
// nested fields are all optional.
type fieldOpts struct {
	skip     []string // output-only or managed by another resource
	required []string
	computed []string // the API fills in a default when unset
	replace  []string // the API cannot change it: a change replaces the object
	docs     map[string]string
	// String plan modifiers run before RequiresReplace (e.g. a diff that
	// only normalises away).
	modifiers map[string][]planmodifier.String
	// nested: the fields of a nested message, whose "id" the user sets (a
	// custom rule's), unlike an object's own.
	nested bool
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// messageAttributes is the schema of md's fields. The top-level field "id"
// is the object's computed id.
func messageAttributes(md protoreflect.MessageDescriptor, o fieldOpts) map[string]schema.Attribute {
	out := map[string]schema.Attribute{}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		if has(o.skip, name) {
			continue
		}
		if name == "id" && !o.nested {
			out[name] = schema.StringAttribute{Computed: true, Description: "The object's id, assigned by Strata.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
			continue
		}
		f := flags{required: has(o.required, name), computed: has(o.computed, name), replace: has(o.replace, name),
			doc: o.docs[name], modifiers: o.modifiers[name]}
		out[name] = fieldAttribute(fd, f)
	}
	return out
}

type flags struct {
	required, computed, replace bool
	doc                         string
	modifiers                   []planmodifier.String
}

func (f flags) optional() bool { return !f.required }

// zero: an optional scalar defaults to its zero value, which is what the
// API stores for it when unset (proto3 has no "unset" for scalars), so the
// state after an import equals the state after an apply.
func (f flags) zero() bool { return !f.required && !f.computed }

func (f flags) description(fd protoreflect.FieldDescriptor) string {
	d := f.doc
	if fd.Kind() == protoreflect.EnumKind && !fd.IsMap() {
		d = strings.TrimSpace(d + " One of " + strings.Join(enumNames(fd.Enum()), ", ") + ".")
	}
	if d == "" {
		d = fmt.Sprintf("Field %s of the API's %s.", fd.Name(), fd.ContainingMessage().FullName())
	}
	return d
}

func fieldAttribute(fd protoreflect.FieldDescriptor, f flags) schema.Attribute {
	desc := f.description(fd)
	switch {
	case fd.IsMap():
		return schema.MapAttribute{ElementType: elemType(fd.MapValue()), Required: f.required, Optional: f.optional(),
			Description: desc}
	case fd.IsList() && fd.Kind() == protoreflect.MessageKind:
		a := schema.ListNestedAttribute{NestedObject: schema.NestedAttributeObject{Attributes: messageAttributes(fd.Message(), fieldOpts{nested: true})},
			Required: f.required, Optional: f.optional(), Computed: f.computed, Description: desc}
		a.PlanModifiers = listModifiers(f)
		return a
	case fd.IsList():
		a := schema.ListAttribute{ElementType: elemType(fd), Required: f.required, Optional: f.optional(), Computed: f.computed,
			Description: desc}
		a.PlanModifiers = listModifiers(f)
		return a
	case fd.Kind() == protoreflect.MessageKind:
		a := schema.SingleNestedAttribute{Attributes: messageAttributes(fd.Message(), fieldOpts{nested: true}), Required: f.required,
			Optional: f.optional(), Computed: f.computed, Description: desc}
		if f.computed {
			a.PlanModifiers = []planmodifier.Object{objectplanmodifier.UseStateForUnknown()}
		}
		return a
	case fd.Kind() == protoreflect.BoolKind:
		a := schema.BoolAttribute{Required: f.required, Optional: f.optional(), Computed: f.computed || f.zero(), Description: desc}
		if f.zero() {
			a.Default = booldefault.StaticBool(false)
		}
		if f.computed {
			a.PlanModifiers = []planmodifier.Bool{boolplanmodifier.UseStateForUnknown()}
		}
		if f.replace {
			a.PlanModifiers = append(a.PlanModifiers, boolplanmodifier.RequiresReplace())
		}
		return a
	case fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.EnumKind:
		a := schema.StringAttribute{Required: f.required, Optional: f.optional(), Computed: f.computed, Description: desc,
			PlanModifiers: f.modifiers}
		if f.zero() {
			a.Computed, a.Default = true, stringdefault.StaticString("")
		}
		if f.computed {
			a.PlanModifiers = append(a.PlanModifiers, stringplanmodifier.UseStateForUnknown())
		}
		if f.replace {
			a.PlanModifiers = append(a.PlanModifiers, stringplanmodifier.RequiresReplace())
		}
		return a
	default:
		a := schema.Int64Attribute{Required: f.required, Optional: f.optional(), Computed: f.computed || f.zero(), Description: desc}
		if f.zero() {
			a.Default = int64default.StaticInt64(0)
		}
		if f.computed {
			a.PlanModifiers = []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}
		}
		if f.replace {
			a.PlanModifiers = append(a.PlanModifiers, int64planmodifier.RequiresReplace())
		}
		return a
	}
}

func listModifiers(f flags) []planmodifier.List {
	var m []planmodifier.List
	if f.computed {
		m = append(m, listplanmodifier.UseStateForUnknown())
	}
	if f.replace {
		m = append(m, listplanmodifier.RequiresReplace())
	}
	return m
}

func elemType(fd protoreflect.FieldDescriptor) attr.Type {
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.EnumKind:
		return types.StringType
	case protoreflect.BoolKind:
		return types.BoolType
	default:
		return types.Int64Type
	}
}
