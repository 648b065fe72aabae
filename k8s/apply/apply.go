// Package apply makes a Strata app what a translate.Plan says, through the
// Strata API, and releases it: edits first (pending changes, invisible to the
// nodes), then one release. Nothing that equals the running content is
// touched, so applying the same plan again changes nothing and releases
// nothing: a restarted controller converges without duplicate releases.
package apply

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/k8s/translate"
	"github.com/strata-edge/strata/pkg/rules"
)

// Applier applies plans through the Strata API.
type Applier struct {
	Config configv1connect.ConfigServiceClient
	Cert   certv1connect.CertServiceClient
}

// Result says what Apply did.
type Result struct {
	AppID string
	// Edits is the number of API writes (0 when the app already matched).
	Edits int
	// Release is the release made (0: none was needed).
	Release uint64
}

// Certificate is the PEM of a TLS Secret.
type Certificate struct {
	Name          string // Strata certificate name
	ChainPEM, Key string
}

// Apply makes the app of p equal to p and releases it when anything changed
// (or when pending changes were left by an earlier, interrupted run).
func (a *Applier) Apply(ctx context.Context, p *translate.Plan, certs []Certificate) (Result, error) {
	name := p.Owner.AppName()
	var res Result
	got, err := a.Config.GetApp(ctx, &configv1.GetAppRequest{AppId: name})
	var app *configv1.App
	switch {
	case connect.CodeOf(err) == connect.CodeNotFound:
		req := &configv1.CreateAppRequest{
			Name: name, Domains: p.Domains, HttpPorts: p.HTTPPorts, HttpsPorts: p.HTTPSPorts,
			Partitions: p.Partitions, Labels: p.Labels}
		if p.Stream != nil {
			req.Role = &configv1.CreateAppRequest_Stream{Stream: p.Stream}
		}
		created, err := a.Config.CreateApp(ctx, req)
		if err != nil {
			return res, fmt.Errorf("create app %s: %w", name, err)
		}
		res.Edits++
		app = created.App
	case err != nil:
		return res, fmt.Errorf("get app %s: %w", name, err)
	default:
		app = got.App
		if app.Labels[translate.LabelManagedBy] != translate.ManagedBy {
			return res, fmt.Errorf("app %s: %w (rename one of them)", name, ErrNotManaged)
		}
		if !sameSettings(app, p) {
			req := &configv1.UpdateAppRequest{
				AppId: app.Id, Name: name, Domains: p.Domains, HttpPorts: p.HTTPPorts, HttpsPorts: p.HTTPSPorts,
				Partitions: p.Partitions, Labels: p.Labels, HttpsRedirect: app.HttpsRedirect, Hsts: app.Hsts}
			if p.Stream != nil {
				req.Role = &configv1.UpdateAppRequest_Stream{Stream: p.Stream}
			}
			if _, err := a.Config.UpdateApp(ctx, req); err != nil {
				return res, fmt.Errorf("update app %s: %w", name, err)
			}
			res.Edits++
		}
	}
	res.AppID = app.Id

	// Upstreams first (rules name them), then rules, then the upstreams no
	// rule needs any more.
	have := map[string]*configv1.Upstream{}
	for _, u := range app.Upstreams {
		have[u.Name] = u
	}
	for _, u := range p.Upstreams {
		cur, ok := have[u.Name]
		switch {
		case !ok:
			if _, err := a.Config.CreateUpstream(ctx, &configv1.CreateUpstreamRequest{AppId: app.Id, Upstream: u}); err != nil {
				return res, fmt.Errorf("create upstream %s: %w", u.Name, err)
			}
			res.Edits++
		case !sameUpstream(cur, u):
			up := proto.Clone(u).(*configv1.Upstream)
			up.Id = cur.Id
			if _, err := a.Config.UpdateUpstream(ctx, &configv1.UpdateUpstreamRequest{AppId: app.Id, Upstream: up}); err != nil {
				return res, fmt.Errorf("update upstream %s: %w", u.Name, err)
			}
			res.Edits++
		}
	}
	if !sameRules(app.Rules, p.Rules) {
		for _, r := range app.Rules {
			if _, err := a.Config.DeleteRule(ctx, &configv1.DeleteRuleRequest{AppId: app.Id, Rule: r.Id}); err != nil {
				return res, fmt.Errorf("delete rule %s: %w", r.Name, err)
			}
			res.Edits++
		}
		for i, r := range p.Rules {
			idx := uint32(i)
			if _, err := a.Config.CreateRule(ctx, &configv1.CreateRuleRequest{AppId: app.Id, Rule: r, Index: &idx}); err != nil {
				return res, fmt.Errorf("create rule %s: %w", r.Name, err)
			}
			res.Edits++
		}
	}
	want := map[string]bool{}
	for _, u := range p.Upstreams {
		want[u.Name] = true
	}
	for _, u := range app.Upstreams {
		if !want[u.Name] {
			if _, err := a.Config.DeleteUpstream(ctx, &configv1.DeleteUpstreamRequest{AppId: app.Id, Upstream: u.Id}); err != nil {
				return res, fmt.Errorf("delete upstream %s: %w", u.Name, err)
			}
			res.Edits++
		}
	}
	n, err := a.certificates(ctx, app.Id, covering(certs, p.Domains))
	if err != nil {
		return res, err
	}
	res.Edits += n

	state, err := a.Config.GetApp(ctx, &configv1.GetAppRequest{AppId: app.Id})
	if err != nil {
		return res, fmt.Errorf("get app %s: %w", name, err)
	}
	if state.PendingChanges == 0 && state.LatestRelease > 0 {
		return res, nil
	}
	rel, err := a.Config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id,
		Note: fmt.Sprintf("%s (generation %d)", p.Owner, p.Generation)})
	if err != nil {
		return res, fmt.Errorf("release app %s: %w", name, err)
	}
	res.Release = rel.Release.GetNumber()
	return res, nil
}

// certificates uploads the certificates the app serves that the
// certificate service does not hold yet (the key is envelope-encrypted
// there, as every uploaded key) and attaches them to the app.
func (a *Applier) certificates(ctx context.Context, appID string, certs []Certificate) (int, error) {
	if a.Cert == nil {
		return 0, nil
	}
	attached, err := a.Cert.ListCertificates(ctx, &certv1.ListCertificatesRequest{AppId: appID})
	if err != nil {
		return 0, fmt.Errorf("list certificates: %w", err)
	}
	byName := map[string]bool{}
	for _, c := range attached.Certificates {
		byName[c.Name] = true
	}
	edits := 0
	for _, c := range certs {
		if byName[c.Name] {
			continue
		}
		// One Secret serves several routes: its certificate is uploaded once
		// and attached to each of their apps.
		_, err := a.Cert.GetCertificate(ctx, &certv1.GetCertificateRequest{Certificate: c.Name})
		switch {
		case connect.CodeOf(err) == connect.CodeNotFound:
			_, err = a.Cert.UploadCertificate(ctx, &certv1.UploadCertificateRequest{
				Name: c.Name, ChainPem: c.ChainPEM, KeyPem: c.Key, AppIds: []string{appID}})
		case err == nil:
			_, err = a.Cert.AttachCertificate(ctx, &certv1.AttachCertificateRequest{Certificate: c.Name, AppId: appID})
		}
		if err != nil {
			return edits, fmt.Errorf("certificate %s: %w", c.Name, err)
		}
		edits++
	}
	// A rotated or removed Secret leaves its old certificate: detach it.
	want := map[string]bool{}
	for _, c := range certs {
		want[c.Name] = true
	}
	for _, c := range attached.Certificates {
		if strings.HasPrefix(c.Name, "k8s.") && strings.Contains(c.Name, ".tls.") && !want[c.Name] {
			if _, err := a.Cert.DetachCertificate(ctx, &certv1.DetachCertificateRequest{Certificate: c.Id, AppId: appID}); err != nil {
				return edits, fmt.Errorf("detach certificate %s: %w", c.Name, err)
			}
			edits++
		}
	}
	return edits, nil
}

// Delete deletes and releases the app of owner; a missing app is no error.
func (a *Applier) Delete(ctx context.Context, owner translate.Owner) (bool, error) {
	name := owner.AppName()
	got, err := a.Config.GetApp(ctx, &configv1.GetAppRequest{AppId: name})
	if connect.CodeOf(err) == connect.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get app %s: %w", name, err)
	}
	id := got.App.Id
	if _, err := a.Config.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: id}); err != nil &&
		connect.CodeOf(err) != connect.CodeFailedPrecondition {
		return false, fmt.Errorf("delete app %s: %w", name, err)
	}
	if _, err := a.Config.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: id,
		Note: fmt.Sprintf("%s deleted", owner)}); err != nil {
		return false, fmt.Errorf("release deletion of %s: %w", name, err)
	}
	return true, nil
}

// ErrNotManaged is returned for an app of the plan's name that the
// controller did not make.
var ErrNotManaged = errors.New("an app of that name exists and is not managed by the k8s controller")

func sameSettings(app *configv1.App, p *translate.Plan) bool {
	if !slices.Equal(sortedCopy(app.Domains), sortedCopy(p.Domains)) ||
		!slices.Equal(app.HttpPorts, p.HTTPPorts) || !slices.Equal(app.HttpsPorts, p.HTTPSPorts) {
		return false
	}
	if !proto.Equal(app.GetStream(), p.Stream) {
		return false
	}
	if len(app.Labels) != len(p.Labels) {
		return false
	}
	for k, v := range p.Labels {
		if app.Labels[k] != v {
			return false
		}
	}
	// Partitions are stored as ids and planned as names or ids: an
	// explicit change of --partition is an update.
	return len(p.Partitions) == 0 || len(app.PartitionIds) == len(p.Partitions)
}

func sameUpstream(cur, want *configv1.Upstream) bool {
	if cur.Policy != want.Policy || cur.Endpoints != want.Endpoints || len(cur.Servers) != len(want.Servers) {
		return false
	}
	for i, s := range want.Servers {
		c := cur.Servers[i]
		if c.Address != s.Address || c.Weight != s.Weight || c.Backup != s.Backup {
			return false
		}
	}
	return true
}

func sameRules(cur, want []*configv1.Rule) bool {
	if len(cur) != len(want) {
		return false
	}
	for i, w := range want {
		c := cur[i]
		if c.Name != w.Name || c.Last != w.Last || canonical(c.When) != canonical(w.When) || len(c.Actions) != len(w.Actions) {
			return false
		}
		for j := range w.Actions {
			if !proto.Equal(c.Actions[j], w.Actions[j]) {
				return false
			}
		}
	}
	return true
}

func canonical(when string) string {
	m, err := rules.Compile(when)
	if err != nil {
		return when
	}
	return m.String()
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// Owned lists the owners of the apps the controller made for cluster (not
// deleted), from their labels.
func (a *Applier) Owned(ctx context.Context, cluster string) ([]translate.Owner, error) {
	var out []translate.Owner
	req := &configv1.ListAppsRequest{PageSize: 500,
		Filter: fmt.Sprintf("labels.%s = %q AND labels.%s = %q", translate.LabelManagedBy, translate.ManagedBy, translate.LabelCluster, cluster)}
	for {
		res, err := a.Config.ListApps(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, s := range res.Apps {
			if s.Deleted {
				continue
			}
			l := s.Labels
			out = append(out, translate.Owner{Cluster: cluster, Kind: l[translate.LabelKind], Namespace: l[translate.LabelNamespace], Name: l[translate.LabelName],
				Section: l[translate.LabelSection]})
		}
		if res.NextPageToken == "" {
			return out, nil
		}
		req.PageToken = res.NextPageToken
	}
}

// covering keeps the certificates that name at least one of domains: a
// listener's certificate for other hosts is not the app's.
func covering(certs []Certificate, domains []string) []Certificate {
	var out []Certificate
	for _, c := range certs {
		block, _ := pem.Decode([]byte(c.ChainPEM))
		if block == nil {
			out = append(out, c) // the API says what is wrong with it
			continue
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			out = append(out, c)
			continue
		}
		for _, d := range domains {
			if leaf.VerifyHostname(strings.TrimPrefix(d, "*.")) == nil || leaf.VerifyHostname(d) == nil {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
