package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// kind is one Strata object type as a Terraform resource: its proto message
// (the schema and the conversion follow from it) and its API calls.
type kind struct {
	name    string // strata_<name>
	doc     string
	newMsg  func() proto.Message
	opts    fieldOpts
	parent  string // attribute naming the containing app or zone ("" for none)
	extra   map[string]schema.Attribute
	secrets []string // extra attributes only create knows (a token's secret): never read back nor kept privately
	create  func(ctx context.Context, c *client, o *object) (*remote, error)
	read    func(ctx context.Context, c *client, o *object) (*remote, error) // nil, nil: gone
	update  func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error)
	delete  func(ctx context.Context, c *client, o *object) error
	ownerOf func(o *object) string // "app shop" for messages
}

// object is the resource's state or plan as the API calls see it.
type object struct {
	id, parent string
	msg        proto.Message
	extra      map[string]tftypes.Value
}

// remote is an object as the API returns it, with the version (etag) of the
// app or zone that holds it (0 where the API has none).
type remote struct {
	msg     proto.Message
	version uint64
	extra   map[string]string // values of the extra attributes
}

// canonical is what the private state keeps of the object as Strata stored
// it at the last apply or refresh: a later read that differs was an edit
// outside Terraform.
type canonical struct {
	Msg   json.RawMessage   `json:"msg"`
	Extra map[string]string `json:"extra,omitempty"`
}

const privateKey = "strata"

// maxAttempts bounds the writes retried after a sibling's write moved the
// app's or zone's version.
const maxAttempts = 10

// retryAborted runs f until it is not refused for a stale version.
func retryAborted(f func() error) error {
	var err error
	for range maxAttempts {
		if err = f(); connect.CodeOf(err) != connect.CodeAborted {
			return err
		}
	}
	return err
}

func (k *kind) resource() func() resource.Resource {
	return func() resource.Resource { return &objectResource{k: k} }
}

type objectResource struct {
	k *kind
	c *client
}

func (r *objectResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.k.name
}

func (r *objectResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := messageAttributes(r.k.newMsg().ProtoReflect().Descriptor(), r.k.opts)
	if r.k.parent != "" {
		attrs[r.k.parent] = schema.StringAttribute{Required: true, Description: "Id of the " + strings.TrimSuffix(r.k.parent, "_id") + " it belongs to; a change replaces it.",
			PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}}
	}
	maps.Copy(attrs, r.k.extra)
	resp.Schema = schema.Schema{Description: r.k.doc, Attributes: attrs}
}

func (r *objectResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if c, ok := req.ProviderData.(*client); ok {
		r.c = c
	}
}

func (r *objectResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id := req.ID
	if r.k.parent != "" {
		parent, child, ok := strings.Cut(req.ID, "/")
		if !ok || parent == "" || child == "" {
			resp.Diagnostics.AddError("Bad import id", fmt.Sprintf("strata_%s is imported as %s/ID, not %q", r.k.name, strings.ToUpper(strings.TrimSuffix(r.k.parent, "_id")), req.ID))
			return
		}
		id = child
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(r.k.parent), parent)...)
	}
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), id)...)
}

// objectOf reads the id, parent, message and extra attributes of v.
func (r *objectResource) objectOf(v tftypes.Value) (*object, error) {
	attrs := attrsOf(v)
	o := &object{msg: r.k.newMsg(), extra: map[string]tftypes.Value{}}
	o.id = str(attrs["id"])
	if r.k.parent != "" {
		o.parent = str(attrs[r.k.parent])
	}
	for name := range r.k.extra {
		o.extra[name] = attrs[name]
	}
	return o, toProto(r.withoutExtra(v), o.msg.ProtoReflect(), "")
}

// withoutExtra is v without the extra attributes: an extra may share its
// name with a message field it stands for in another form (a time as text).
func (r *objectResource) withoutExtra(v tftypes.Value) tftypes.Value {
	if len(r.k.extra) == 0 {
		return v
	}
	typ := v.Type().(tftypes.Object)
	types := map[string]tftypes.Type{}
	for name, t := range typ.AttributeTypes {
		if _, ok := r.k.extra[name]; !ok {
			types[name] = t
		}
	}
	t := tftypes.Object{AttributeTypes: types}
	if v.IsNull() || !v.IsKnown() {
		return tftypes.NewValue(t, nil)
	}
	attrs := attrsOf(v)
	out := map[string]tftypes.Value{}
	for name := range types {
		out[name] = attrs[name]
	}
	return tftypes.NewValue(t, out)
}

func str(v tftypes.Value) string {
	var s string
	if v.IsKnown() && !v.IsNull() {
		_ = v.As(&s)
	}
	return s
}

// stateOf is the state for rem: planned values where the plan knows them
// (the API may normalise what it stores), the API's where the plan left them
// to it; with an unknown plan (a refresh), the API's throughout.
func (r *objectResource) stateOf(typ tftypes.Object, rem *remote, ref tftypes.Value, keepKnown bool) (tftypes.Value, error) {
	got, err := fromProto(rem.msg.ProtoReflect(), r.withoutExtra(tftypes.NewValue(typ, nil)).Type().(tftypes.Object), r.withoutExtra(ref))
	if err != nil {
		return tftypes.Value{}, err
	}
	attrs := attrsOf(got)
	for name := range r.k.extra {
		attrs[name] = attrsOf(ref)[name]
		if _, ok := attrs[name]; !ok {
			attrs[name] = tftypes.NewValue(typ.AttributeTypes[name], nil)
		}
	}
	for name, v := range rem.extra {
		attrs[name] = tftypes.NewValue(tftypes.String, v)
	}
	if keepKnown {
		for name, v := range attrsOf(ref) {
			if v.IsFullyKnown() {
				attrs[name] = v
			}
		}
	}
	return tftypes.NewValue(typ, attrs), nil
}

func (r *objectResource) remember(ctx context.Context, rem *remote, set func(context.Context, string, []byte) diag.Diagnostics) diag.Diagnostics {
	c := canonicalOf(rem)
	if len(r.k.secrets) > 0 {
		c.Extra = maps.Clone(c.Extra)
		for _, s := range r.k.secrets {
			delete(c.Extra, s)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		var d diag.Diagnostics
		d.AddError("Cannot keep the object's stored form", err.Error())
		return d
	}
	return set(ctx, privateKey, b)
}

func canonicalOf(rem *remote) canonical {
	b, _ := protojson.Marshal(rem.msg)
	return canonical{Msg: b, Extra: rem.extra}
}

// same reports whether rem is the object as remembered in the private state.
func (r *objectResource) same(b []byte, rem *remote) bool {
	return r.sameContent(b, rem) && maps.Equal(r.remembered(b).Extra, rem.extra)
}

func (r *objectResource) remembered(b []byte) canonical {
	var c canonical
	_ = json.Unmarshal(b, &c)
	return c
}

// sameContent is same without the extra attributes: a rule's neighbour
// moves when Terraform moves the other rules, which is no edit of it.
func (r *objectResource) sameContent(b []byte, rem *remote) bool {
	var c canonical
	if len(b) == 0 || json.Unmarshal(b, &c) != nil {
		return false
	}
	m := r.k.newMsg()
	if protojson.Unmarshal(c.Msg, m) != nil {
		return false
	}
	return proto.Equal(m, rem.msg)
}

func (r *objectResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	o, err := r.objectOf(req.Plan.Raw)
	if err != nil {
		resp.Diagnostics.AddError(r.title("create"), err.Error())
		return
	}
	rem, err := r.k.create(ctx, r.c, o)
	if err != nil {
		resp.Diagnostics.AddError(r.title("create"), apiError(err))
		return
	}
	r.setState(ctx, req.Plan.Raw, rem, &resp.State.Raw, &resp.Diagnostics)
	resp.Diagnostics.Append(r.remember(ctx, rem, resp.Private.SetKey)...)
}

func (r *objectResource) setState(ctx context.Context, plan tftypes.Value, rem *remote, dst *tftypes.Value, d *diag.Diagnostics) {
	typ := plan.Type().(tftypes.Object)
	st, err := r.stateOf(typ, rem, plan, true)
	if err != nil {
		d.AddError(r.title("read the result of"), err.Error())
		return
	}
	*dst = st
}

func (r *objectResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	o, err := r.objectOf(req.State.Raw)
	if err != nil {
		resp.Diagnostics.AddError(r.title("read"), err.Error())
		return
	}
	rem, err := r.k.read(ctx, r.c, o)
	if err != nil {
		resp.Diagnostics.AddError(r.title("read"), apiError(err))
		return
	}
	if rem == nil {
		resp.State.RemoveResource(ctx)
		return
	}
	prev, diags := req.Private.GetKey(ctx, privateKey)
	resp.Diagnostics.Append(diags...)
	if r.same(prev, rem) {
		return // unchanged since Terraform wrote it: the state stands as written
	}
	st, err := r.stateOf(req.State.Raw.Type().(tftypes.Object), rem, req.State.Raw, false)
	if err != nil {
		resp.Diagnostics.AddError(r.title("read"), err.Error())
		return
	}
	resp.State.Raw = st
	resp.Diagnostics.Append(r.remember(ctx, rem, resp.Private.SetKey)...)
}

func (r *objectResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	o, err := r.objectOf(req.Plan.Raw)
	if err != nil {
		resp.Diagnostics.AddError(r.title("update"), err.Error())
		return
	}
	cur, err := r.k.read(ctx, r.c, o)
	if err != nil {
		resp.Diagnostics.AddError(r.title("update"), apiError(err))
		return
	}
	if r.k.update == nil {
		resp.Diagnostics.AddError(r.title("update"), "the API cannot change it in place (a change replaces it)")
		return
	}
	if cur == nil {
		resp.Diagnostics.AddError(r.title("update"), fmt.Sprintf("%s was deleted outside Terraform since the plan was made; nothing was written", r.describe(o)))
		return
	}
	prev, diags := req.Private.GetKey(ctx, privateKey)
	resp.Diagnostics.Append(diags...)
	if !r.sameContent(prev, cur) {
		resp.Diagnostics.AddError(r.title("update"), fmt.Sprintf("%s was changed outside Terraform since the plan was made (by the console, the CLI or another run); nothing was overwritten. Run terraform plan again to see the change.", r.describe(o)))
		return
	}
	// Terraform writes the other objects of the same app in parallel, and
	// each moves the app's version: a stale version is retried while this
	// object itself is still as the plan saw it.
	var rem *remote
	for attempt := 1; ; attempt++ {
		rem, err = r.k.update(ctx, r.c, o, cur)
		if connect.CodeOf(err) != connect.CodeAborted || attempt == maxAttempts {
			break
		}
		if cur, err = r.k.read(ctx, r.c, o); err != nil || cur == nil || !r.sameContent(prev, cur) {
			resp.Diagnostics.AddError(r.title("update"), fmt.Sprintf("%s was changed outside Terraform since the plan was made (by the console, the CLI or another run); nothing was overwritten. Run terraform plan again to see the change.", r.describe(o)))
			return
		}
	}
	if err != nil {
		resp.Diagnostics.AddError(r.title("update"), r.conflict(o, cur, err))
		return
	}
	r.setState(ctx, req.Plan.Raw, rem, &resp.State.Raw, &resp.Diagnostics)
	resp.Diagnostics.Append(r.remember(ctx, rem, resp.Private.SetKey)...)
}

func (r *objectResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	o, err := r.objectOf(req.State.Raw)
	if err != nil {
		resp.Diagnostics.AddError(r.title("delete"), err.Error())
		return
	}
	if err := r.k.delete(ctx, r.c, o); err != nil && connect.CodeOf(err) != connect.CodeNotFound {
		resp.Diagnostics.AddError(r.title("delete"), apiError(err))
	}
}

func (r *objectResource) title(verb string) string {
	return fmt.Sprintf("Cannot %s strata_%s", verb, r.k.name)
}

func (r *objectResource) describe(o *object) string {
	s := fmt.Sprintf("strata_%s %s", r.k.name, o.id)
	if r.k.ownerOf != nil {
		s += " of " + r.k.ownerOf(o)
	}
	return s
}

// conflict words an Aborted answer (a stale expected version: someone wrote
// between our read and our write) as the concurrent edit it is.
func (r *objectResource) conflict(o *object, cur *remote, err error) string {
	if connect.CodeOf(err) == connect.CodeAborted {
		return fmt.Sprintf("%s: a concurrent edit changed it (expected version %d is stale); nothing was overwritten. Run terraform plan again to see the change. (%s)", r.describe(o), cur.version, apiError(err))
	}
	return apiError(err)
}

// apiError is the API's message with its code, e.g. "invalid_argument:
// domains[0]: ...".
func apiError(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code().String() + ": " + ce.Message()
	}
	return err.Error()
}
