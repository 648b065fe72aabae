package provider

import (
	"math/big"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Attributes that are not fields of the object's message: inputs of its
// create call only, secrets and times.

// nameID is the id of objects whose name is their id (users, groups).
var nameID = schema.StringAttribute{Computed: true, Description: "The name (Strata's id for it).",
	PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}

// secretAttr is a secret the API returns once, when the object is created.
func secretAttr(doc string) schema.StringAttribute {
	return schema.StringAttribute{Computed: true, Sensitive: true, Description: doc,
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
}

// ttlAttr is a lifetime given at create; a change replaces the object.
func ttlAttr(doc string) schema.Int64Attribute {
	return schema.Int64Attribute{Optional: true, Description: doc,
		PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()}}
}

// timeAttr is a time Strata sets (RFC 3339; "" for none).
func timeAttr(doc string) schema.StringAttribute {
	return schema.StringAttribute{Computed: true, Description: doc,
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
}

func rfc3339(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

// intOf is a number attribute's value (0 when null or unknown).
func intOf(v tftypes.Value) int64 {
	var f big.Float
	if !v.IsKnown() || v.IsNull() || v.As(&f) != nil {
		return 0
	}
	i, _ := f.Int64()
	return i
}

// only is m without the fields the resource does not manage (output-only
// times, fields another resource manages): a change of those is no edit.
func only(m proto.Message, skip []string) proto.Message {
	c := proto.Clone(m)
	r := c.ProtoReflect()
	for _, name := range skip {
		if fd := r.Descriptor().Fields().ByName(protoreflect.Name(name)); fd != nil {
			r.Clear(fd)
		}
	}
	return c
}
