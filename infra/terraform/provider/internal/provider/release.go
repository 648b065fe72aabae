package provider

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// strata_release releases an app's (or a zone's) pending changes when it is
// created. While the app has unreleased changes the resource reads as gone,
// so the plan shows it to be created (and prints the pending diff); with
// replace_triggered_by on the app's resources a change of them releases in
// the same apply. Destroying it changes nothing: releases are history.
func newRelease() resource.Resource { return &releaseResource{} }

type releaseResource struct{ c *client }

type releaseModel struct {
	ID      types.String `tfsdk:"id"`
	AppID   types.String `tfsdk:"app_id"`
	ZoneID  types.String `tfsdk:"zone_id"`
	WafID   types.String `tfsdk:"waf_policy_id"`
	Note    types.String `tfsdk:"note"`
	Staging types.Bool   `tfsdk:"staging"`
	Number  types.Int64  `tfsdk:"number"`
}

func (r *releaseResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_release"
}

func (r *releaseResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "Releases the pending changes of an app (app_id), a DNS zone (zone_id) or a WAF policy (waf_policy_id) with a note. " +
			"Planned for creation whenever it has unreleased changes; destroying it releases nothing. Import as ID or ID/NUMBER " +
			"(zone:ID, waf:ID for zones and policies).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "APP_OR_ZONE_ID/NUMBER.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"app_id":  schema.StringAttribute{Optional: true, PlanModifiers: replace, Description: "The app to release (or zone_id)."},
			"zone_id": schema.StringAttribute{Optional: true, PlanModifiers: replace, Description: "The DNS zone to release (or app_id)."},
			"waf_policy_id": schema.StringAttribute{Optional: true, PlanModifiers: replace,
				Description: "The WAF policy to release (or app_id, zone_id); release it before the apps that attach it."},
			"note": schema.StringAttribute{Required: true, PlanModifiers: replace, Description: "The release note."},
			"staging": schema.BoolAttribute{Optional: true, Computed: true, Description: "Release to staging nodes only.",
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()}},
			"number": schema.Int64Attribute{Computed: true, Description: "The release's number (the latest one when nothing was pending)."},
		},
	}
}

func (r *releaseResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if c, ok := req.ProviderData.(*client); ok {
		r.c = c
	}
}

func (r *releaseResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m releaseModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	set := 0
	for _, v := range []types.String{m.AppID, m.ZoneID, m.WafID} {
		if v.IsUnknown() {
			return
		}
		if !v.IsNull() {
			set++
		}
	}
	if set != 1 {
		resp.Diagnostics.AddAttributeError(path.Root("app_id"), "Exactly one of app_id, zone_id and waf_policy_id", "a strata_release releases one app, zone or WAF policy")
	}
}

// target is the app or zone and its client calls.
type target struct {
	app, waf bool
	id       string
	kind     string
}

func targetOf(m releaseModel) target {
	if !m.ZoneID.IsNull() {
		return target{id: m.ZoneID.ValueString(), kind: "zone"}
	}
	if !m.WafID.IsNull() {
		return target{waf: true, id: m.WafID.ValueString(), kind: "waf policy"}
	}
	return target{app: true, id: m.AppID.ValueString(), kind: "app"}
}

// unreleased reports whether the working copy differs from the newest
// release (the API's count of pending changes also counts edits that were
// undone), and the newest release; found is false for a missing or deleted
// app or zone.
func (r *releaseResource) unreleased(ctx context.Context, t target) (diff bool, latest uint64, found bool, err error) {
	if t.app {
		res, err := getApp(ctx, r.c, t.id)
		return !sameContent(res.GetApp(), res.GetReleased()), res.GetLatestRelease(), res != nil, err
	}
	if t.waf {
		res, err := getWafPolicy(ctx, r.c, t.id)
		return !samePolicy(res.GetPolicy(), res.GetReleased()), res.GetLatestRelease(), res != nil, err
	}
	res, err := getZone(ctx, r.c, t.id)
	return !sameContent(res.GetZone(), res.GetReleased()), res.GetLatestRelease(), res != nil, err
}

// sameContent compares two versions of an app or zone without their release
// numbers.
func sameContent[M interface {
	proto.Message
	GetRelease() uint64
}](a, b M) bool {
	if a.GetRelease() == b.GetRelease() {
		return proto.Equal(a, b)
	}
	ac, bc := proto.Clone(a), proto.Clone(b)
	clearRelease(ac)
	clearRelease(bc)
	return proto.Equal(ac, bc)
}

// samePolicy compares a policy's working copy and release without the
// release number.
func samePolicy(a, b *wafv1.WafPolicy) bool {
	if a == nil || b == nil {
		return a == b
	}
	ac, bc := proto.Clone(a).(*wafv1.WafPolicy), proto.Clone(b).(*wafv1.WafPolicy)
	ac.Version, bc.Version = 0, 0
	return proto.Equal(ac, bc)
}

func clearRelease(m proto.Message) {
	switch x := m.(type) {
	case *configv1.App:
		x.Release = 0
	case *dnsv1.Zone:
		x.Release = 0
	}
}

func (r *releaseResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if !req.State.Raw.IsNull() || req.Plan.Raw.IsNull() || r.c == nil {
		return
	}
	var m releaseModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if m.AppID.IsUnknown() || m.ZoneID.IsUnknown() || resp.Diagnostics.HasError() {
		return
	}
	t := targetOf(m)
	if t.waf {
		return // the WAF service has no diff
	}
	var text string
	if t.app {
		res, err := r.c.config.DiffApp(ctx, &configv1.DiffAppRequest{AppId: t.id})
		if err != nil {
			return // a new app: nothing to show yet
		}
		text = res.GetText()
	} else {
		res, err := r.c.dns.DiffZone(ctx, &dnsv1.DiffZoneRequest{Zone: t.id})
		if err != nil {
			return
		}
		text = res.GetText()
	}
	if strings.TrimSpace(text) != "" {
		resp.Diagnostics.AddWarning(fmt.Sprintf("strata_release will release %s %s", t.kind, t.id),
			"Pending now (before this apply's other changes):\n"+text)
	}
}

func (r *releaseResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m releaseModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	t := targetOf(m)
	staging := m.Staging.ValueBool()
	var number uint64
	var err error
	switch {
	case t.app:
		var res *configv1.CreateReleaseResponse
		res, err = r.c.config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: t.id, Note: m.Note.ValueString(), Staging: staging})
		if err == nil {
			number = res.GetRelease().GetNumber()
		}
	case t.waf:
		var res *wafv1.CreateReleaseResponse
		res, err = r.c.waf.CreateRelease(ctx, &wafv1.CreateReleaseRequest{PolicyId: t.id, Note: m.Note.ValueString(), Staging: staging})
		if err == nil {
			number = res.GetRelease().GetNumber()
		}
	default:
		var res *dnsv1.CreateReleaseResponse
		res, err = r.c.dns.CreateRelease(ctx, &dnsv1.CreateReleaseRequest{Zone: t.id, Note: m.Note.ValueString(), Staging: staging})
		if err == nil {
			number = res.GetRelease().GetNumber()
		}
	}
	if connect.CodeOf(err) == connect.CodeFailedPrecondition && strings.Contains(err.Error(), "nothing to release") {
		// What the plan saw pending was released meanwhile, or changed back.
		_, number, _, err = r.unreleased(ctx, t)
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot create strata_release", fmt.Sprintf("%s %s: %s", t.kind, t.id, apiError(err)))
		return
	}
	m.Number = types.Int64Value(int64(number))
	m.ID = types.StringValue(t.id + "/" + strconv.FormatUint(number, 10))
	m.Staging = types.BoolValue(staging)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (r *releaseResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m releaseModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	t := targetOf(m)
	diff, _, found, err := r.unreleased(ctx, t)
	if err != nil {
		resp.Diagnostics.AddError("Cannot read strata_release", fmt.Sprintf("%s %s: %s", t.kind, t.id, apiError(err)))
		return
	}
	if !found || diff {
		resp.State.RemoveResource(ctx) // unreleased changes: plan a release
		return
	}
	if m.Note.IsNull() { // imported: the note and track of that release
		if err := r.fillImported(ctx, t, &m); err != nil {
			resp.Diagnostics.AddError("Cannot import strata_release", err.Error())
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (r *releaseResource) fillImported(ctx context.Context, t target, m *releaseModel) error {
	type rel struct {
		number  uint64
		note    string
		staging bool
	}
	var rels []rel
	switch {
	case t.app:
		res, err := r.c.config.ListReleases(ctx, &configv1.ListReleasesRequest{AppId: t.id})
		if err != nil {
			return fmt.Errorf("app %s: %s", t.id, apiError(err))
		}
		for _, x := range res.GetReleases() {
			rels = append(rels, rel{x.GetNumber(), x.GetNote(), x.GetStaging()})
		}
	case t.waf:
		res, err := r.c.waf.ListReleases(ctx, &wafv1.ListReleasesRequest{PolicyId: t.id})
		if err != nil {
			return fmt.Errorf("waf policy %s: %s", t.id, apiError(err))
		}
		for _, x := range res.GetReleases() {
			rels = append(rels, rel{x.GetNumber(), x.GetNote(), x.GetStaging()})
		}
	default:
		res, err := r.c.dns.ListReleases(ctx, &dnsv1.ListReleasesRequest{Zone: t.id})
		if err != nil {
			return fmt.Errorf("zone %s: %s", t.id, apiError(err))
		}
		for _, x := range res.GetReleases() {
			rels = append(rels, rel{x.GetNumber(), x.GetNote(), x.GetStaging()})
		}
	}
	want := uint64(m.Number.ValueInt64())
	if m.Number.IsNull() { // the newest
		for _, x := range rels {
			want = max(want, x.number)
		}
	}
	for _, x := range rels {
		if x.number == want {
			m.Note, m.Staging, m.Number = types.StringValue(x.note), types.BoolValue(x.staging), types.Int64Value(int64(x.number))
		}
	}
	if m.Note.IsNull() {
		return fmt.Errorf("%s %s has no release %d", t.kind, t.id, want)
	}
	m.ID = types.StringValue(t.id + "/" + strconv.FormatUint(want, 10))
	return nil
}

func (r *releaseResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Every attribute but the computed ones replaces the resource.
	var m releaseModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, m)...)
}

func (r *releaseResource) Delete(context.Context, resource.DeleteRequest, *resource.DeleteResponse) {}

// ImportState takes APP_ID (its latest release) or APP_ID/NUMBER; a zone's
// release is imported as zone:ZONE_ID or zone:ZONE_ID/NUMBER.
func (r *releaseResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	id, attr := req.ID, "app_id"
	if rest, ok := strings.CutPrefix(id, "zone:"); ok {
		id, attr = rest, "zone_id"
	} else if rest, ok := strings.CutPrefix(id, "waf:"); ok {
		id, attr = rest, "waf_policy_id"
	}
	owner, num, hasNum := strings.Cut(id, "/")
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(attr), owner)...)
	if hasNum {
		n, err := strconv.ParseUint(num, 10, 63)
		if err != nil {
			resp.Diagnostics.AddError("Bad import id", fmt.Sprintf("strata_release is imported as ID or ID/NUMBER, not %q", req.ID))
			return
		}
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("number"), int64(n))...)
	}
}
