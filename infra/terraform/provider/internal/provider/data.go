package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// Data sources read what nodes report and what they run: no state of their
// own, every plan reads them again.

type dataBase struct{ c *client }

func (d *dataBase) Configure(_ context.Context, req datasource.ConfigureRequest, _ *datasource.ConfigureResponse) {
	if c, ok := req.ProviderData.(*client); ok {
		d.c = c
	}
}

type nodesData struct{ dataBase }

func newNodesData() datasource.DataSource { return &nodesData{} }

type nodesModel struct {
	Cluster types.String `tfsdk:"cluster"`
	Nodes   []nodeModel  `tfsdk:"nodes"`
}

type nodeModel struct {
	ID             types.String `tfsdk:"id"`
	Name           types.String `tfsdk:"name"`
	ClusterID      types.String `tfsdk:"cluster_id"`
	PartitionID    types.String `tfsdk:"partition_id"`
	Track          types.String `tfsdk:"track"`
	PublicIPv4     types.String `tfsdk:"public_ipv4"`
	PublicIPv6     types.String `tfsdk:"public_ipv6"`
	Approved       types.Bool   `tfsdk:"approved"`
	Disabled       types.Bool   `tfsdk:"disabled"`
	Online         types.Bool   `tfsdk:"online"`
	InSync         types.Bool   `tfsdk:"in_sync"`
	Healthy        types.Bool   `tfsdk:"healthy"`
	AppliedVersion types.Int64  `tfsdk:"applied_version"`
}

func (d *nodesData) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_nodes"
}

func (d *nodesData) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(doc string) schema.Attribute { return schema.StringAttribute{Computed: true, Description: doc} }
	boolean := func(doc string) schema.Attribute { return schema.BoolAttribute{Computed: true, Description: doc} }
	resp.Schema = schema.Schema{
		Description: "The edge nodes (of one cluster, or all) with their sync status, as `strata node list` shows them.",
		Attributes: map[string]schema.Attribute{
			"cluster": schema.StringAttribute{Optional: true, Description: "Cluster id or name; unset: every node."},
			"nodes": schema.ListNestedAttribute{Computed: true, Description: "Sorted by cluster and name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id": str("Node id."), "name": str("Node name."), "cluster_id": str("Its cluster."),
					"partition_id": str("Its cluster's partition."), "track": str("stable or staging."),
					"public_ipv4": str("Address given at join."), "public_ipv6": str("Address given at join."),
					"approved": boolean("Has its credentials."), "disabled": boolean("Drained by an operator."),
					"online": boolean("Heartbeats arrive."), "in_sync": boolean("Runs the newest snapshot of its track."),
					"healthy":         boolean("Online, in sync and without apply errors."),
					"applied_version": schema.Int64Attribute{Computed: true, Description: "Snapshot version it runs."},
				}}},
		},
	}
}

func (d *nodesData) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m nodesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	res, err := d.c.config.ListNodes(ctx, &configv1.ListNodesRequest{Cluster: m.Cluster.ValueString()})
	if err != nil {
		resp.Diagnostics.AddError("Cannot read strata_nodes", apiError(err))
		return
	}
	m.Nodes = []nodeModel{}
	for _, n := range res.GetNodes() {
		nd := n.GetNode()
		m.Nodes = append(m.Nodes, nodeModel{ID: types.StringValue(nd.GetId()), Name: types.StringValue(nd.GetName()),
			ClusterID: types.StringValue(nd.GetClusterId()), PartitionID: types.StringValue(n.GetPartitionId()),
			Track: types.StringValue(n.GetTrack()), PublicIPv4: types.StringValue(nd.GetPublicIpv4()),
			PublicIPv6: types.StringValue(nd.GetPublicIpv6()), Approved: types.BoolValue(nd.GetApproved()),
			Disabled: types.BoolValue(nd.GetDisabled()), Online: types.BoolValue(n.GetOnline()),
			InSync: types.BoolValue(n.GetInSync()), Healthy: types.BoolValue(n.GetHealthy()),
			AppliedVersion: types.Int64Value(int64(n.GetAppliedVersion()))})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

type snapshotData struct{ dataBase }

func newSnapshotData() datasource.DataSource { return &snapshotData{} }

type snapshotModel struct {
	Partition  types.String `tfsdk:"partition"`
	Staging    types.Bool   `tfsdk:"staging"`
	Version    types.Int64  `tfsdk:"version"`
	Apps       types.Int64  `tfsdk:"apps"`
	Consistent types.Bool   `tfsdk:"consistent"`
	JSON       types.String `tfsdk:"json"`
}

func (d *snapshotData) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_snapshot"
}

func (d *snapshotData) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The newest config snapshot of a partition's track: what its nodes run once in sync (`strata snapshot`).",
		Attributes: map[string]schema.Attribute{
			"partition":  schema.StringAttribute{Required: true, Description: "Partition id or name."},
			"staging":    schema.BoolAttribute{Optional: true, Description: "The staging track's snapshot instead of the stable one."},
			"version":    schema.Int64Attribute{Computed: true, Description: "Snapshot version."},
			"apps":       schema.Int64Attribute{Computed: true, Description: "Number of apps in it."},
			"consistent": schema.BoolAttribute{Computed: true, Description: "Every reference in it resolves."},
			"json":       schema.StringAttribute{Computed: true, Description: "The snapshot as protojson (jsondecode() it)."},
		},
	}
}

func (d *snapshotData) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m snapshotModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	res, err := d.c.config.GetSnapshot(ctx, &configv1.GetSnapshotRequest{Partition: m.Partition.ValueString(), Staging: m.Staging.ValueBool()})
	if err != nil {
		resp.Diagnostics.AddError("Cannot read strata_snapshot", apiError(err))
		return
	}
	m.Version, m.Apps = types.Int64Value(int64(res.GetVersion())), types.Int64Value(int64(res.GetApps()))
	m.Consistent, m.JSON = types.BoolValue(res.GetConsistent()), types.StringValue(res.GetJson())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
