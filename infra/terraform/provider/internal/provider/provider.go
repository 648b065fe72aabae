// Package provider is the Terraform provider for Strata: every resource is
// an object of the Connect API, written with the generated Go clients.
package provider

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/gen/strata/waf/v1/wafv1connect"
)

// New returns the provider; version is the provider's release ("dev" in
// tests).
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &strataProvider{version: version} }
}

type strataProvider struct{ version string }

type providerModel struct {
	API   types.String `tfsdk:"api"`
	Token types.String `tfsdk:"token"`
}

// client holds the API clients the resources call.
type client struct {
	config configv1connect.ConfigServiceClient
	dns    dnsv1connect.DnsServiceClient
	node   configv1connect.NodeServiceClient
	cert   certv1connect.CertServiceClient
	iam    iamv1connect.IAMServiceClient
	waf    wafv1connect.WafServiceClient
}

// newClient is the API clients for api, calling with token.
func newClient(api, token string) *client {
	hc := &http.Client{Timeout: time.Minute}
	opts := connect.WithInterceptors(bearer("Bearer " + token))
	return &client{
		config: configv1connect.NewConfigServiceClient(hc, api, opts),
		dns:    dnsv1connect.NewDnsServiceClient(hc, api, opts),
		node:   configv1connect.NewNodeServiceClient(hc, api, opts),
		cert:   certv1connect.NewCertServiceClient(hc, api, opts),
		iam:    iamv1connect.NewIAMServiceClient(hc, api, opts),
		waf:    wafv1connect.NewWafServiceClient(hc, api, opts),
	}
}

func (p *strataProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "strata"
	resp.Version = p.version
}

func (p *strataProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Manages Strata's configuration (partitions, clusters, join tokens, apps, certificates, DNS zones, users, groups, grants, API tokens) through its Connect API.",
		Attributes: map[string]schema.Attribute{
			"api": schema.StringAttribute{Optional: true,
				Description: "Base URL of the Strata API, e.g. http://127.0.0.1:8080. Defaults to the STRATA_API environment variable."},
			"token": schema.StringAttribute{Optional: true, Sensitive: true,
				Description: "API token (sent as a bearer token). Defaults to the STRATA_TOKEN environment variable."},
		},
	}
}

func (p *strataProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	api := setting(m.API, "STRATA_API")
	token := setting(m.Token, "STRATA_TOKEN")
	if api == "" {
		resp.Diagnostics.AddAttributeError(path.Root("api"), "Missing Strata API address",
			"Set api in the provider block or STRATA_API in the environment (the URL `strata dev` prints as api:).")
	}
	if token == "" {
		resp.Diagnostics.AddAttributeError(path.Root("token"), "Missing Strata API token",
			"Set token in the provider block or STRATA_TOKEN in the environment (`strata dev` writes one to DATA/admin.token).")
	}
	if resp.Diagnostics.HasError() {
		return
	}
	c := newClient(strings.TrimSuffix(api, "/"), token)
	resp.ResourceData = c
	resp.DataSourceData = c
}

func setting(v types.String, env string) string {
	if !v.IsNull() && !v.IsUnknown() && v.ValueString() != "" {
		return v.ValueString()
	}
	return os.Getenv(env)
}

func (p *strataProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		partitionKind.resource(), clusterKind.resource(), appKind.resource(), upstreamKind.resource(),
		ruleKind.resource(), zoneKind.resource(), recordKind.resource(), newRelease,
		joinTokenKind.resource(), certificateKind.resource(), userKind.resource(), groupKind.resource(),
		grantKind.resource(), apiTokenKind.resource(), wafPolicyKind.resource(),
	}
}

func (p *strataProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newNodesData, newSnapshotData}
}

// bearer sends the token with every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
