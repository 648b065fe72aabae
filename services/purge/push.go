package purge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/types/known/durationpb"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// Pushes: every node of an app's partitions (or of some clusters) fetches
// URLs into its cache before users ask. A push is a command on the purge
// path (PurgeCommand.push): the same stream, consumer, acknowledgements and
// progress as a purge, so an offline node runs it when it returns, in order
// with the purges around it, unless it has expired (PushExpiry).

const prefixPush = "psh_"

// Limits and defaults of one push.
const (
	MaxPushURLs        = 10000
	MaxPushURLLen      = 2048
	MaxPushClusters    = 100
	DefaultConcurrency = 4
	MaxConcurrency     = 32
	// PushURLTimeout is how long a node waits for one URL.
	PushURLTimeout = 30 * time.Second
	// PushExpiry is how long after its creation a node still runs a push:
	// one that was offline longer skips it (acknowledging an error), since
	// the content may have changed and its users have been asking anyway.
	PushExpiry = time.Hour
)

// checkPush checks a push request, naming the field and the reason of each
// problem. domains are the app's host names ("*.example.com" matches one or
// more labels in front of example.com); nil skips the host check (the app
// is not resolved yet).
func checkPush(req *purgev1.CreatePushRequest, domains []string) error {
	var f apierr.Fields
	if req.GetAppId() == "" {
		f.Add("app_id", "is required")
	}
	switch n := len(req.GetUrls()); {
	case n == 0:
		f.Add("urls", "at least one URL is required")
	case n > MaxPushURLs:
		f.Addf("urls", "%d URLs, at most %d per push", n, MaxPushURLs)
	}
	for i, u := range req.GetUrls() {
		if reason := checkPushURL(u, domains); reason != "" {
			f.Add(fmt.Sprintf("urls[%d]", i), reason)
		}
		if i >= 100 && f.Err() != nil {
			break // enough to show what is wrong
		}
	}
	if n := len(req.GetClusterIds()); n > MaxPushClusters {
		f.Addf("cluster_ids", "%d clusters, at most %d", n, MaxPushClusters)
	}
	for i, c := range req.GetClusterIds() {
		if c == "" {
			f.Add(fmt.Sprintf("cluster_ids[%d]", i), "is empty")
		}
	}
	if c := req.GetConcurrency(); c < 0 || c > MaxConcurrency {
		f.Addf("concurrency", "%d, want 1 to %d (0: %d)", c, MaxConcurrency, DefaultConcurrency)
	}
	return f.Err()
}

func checkPushURL(v string, domains []string) string {
	switch {
	case v == "":
		return "is required"
	case len(v) > MaxPushURLLen:
		return fmt.Sprintf("%d bytes, at most %d", len(v), MaxPushURLLen)
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Sprintf("%q contains a space or control character", v)
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", v, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%q: scheme %q, want an absolute http or https URL", v, u.Scheme)
	}
	if u.User != nil {
		return fmt.Sprintf("%q: a push URL has no user info", v)
	}
	if u.Fragment != "" {
		return fmt.Sprintf("%q: a push URL has no fragment", v)
	}
	host := u.Hostname()
	if reason := checkHost(host); reason != "" {
		return fmt.Sprintf("%q: host %s", v, reason)
	}
	if strings.Contains(host, "*") {
		return fmt.Sprintf("%q: the host is a wildcard", v)
	}
	if domains != nil && !hostOf(domains, host) {
		return fmt.Sprintf("%q: host %s is not one of the app's domains (%s)", v, host, strings.Join(domains, ", "))
	}
	return ""
}

// hostOf reports whether host is one of domains (exact, or under a
// "*.suffix" wildcard), ignoring case and a trailing dot.
func hostOf(domains []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if d == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(d, "*"); ok && strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
			return true
		}
	}
	return false
}

// pushRequested decides CreatePush of a checked request for app (its id)
// on partitions parts, limited to clusters when set: the push waits for the
// nodes online now (online: node id -> partition id) of those partitions
// and clusters (clusterOf: node id -> cluster id).
func pushRequested(id, app string, req *purgev1.CreatePushRequest, parts, clusters []string,
	online map[string]string, clusterOf func(string) string, now time.Time) *ev.PushRequested {
	var expected []string
	for node, p := range online {
		if slices.Contains(parts, p) && (len(clusters) == 0 || slices.Contains(clusters, clusterOf(node))) {
			expected = append(expected, node)
		}
	}
	slices.Sort(expected)
	conc := req.GetConcurrency()
	if conc == 0 {
		conc = DefaultConcurrency
	}
	cmd := &purgev1.PurgeCommand{PurgeId: id, RequestedAt: timestamp(now), Push: &purgev1.PushCommand{
		Urls: req.GetUrls(), Concurrency: conc, UrlTimeout: durationpb.New(PushURLTimeout),
		ExpiresAt: timestamp(now.Add(PushExpiry)), ClusterIds: clusters,
	}}
	return &ev.PushRequested{PushId: id, Command: cmd, AppId: app, PartitionIds: parts, ExpectedNodeIds: expected}
}

// pushTargets resolves the app and the clusters of a push: the app's id
// and domains, the partitions to publish to and the cluster ids (sorted).
func (s *Service) pushTargets(ctx context.Context, topo PushTopology, req *purgev1.CreatePushRequest) (app string, domains, parts, clusters []string, err error) {
	obj, err := topo.ResolveObject(ctx, authz.KindApp, req.GetAppId())
	if errors.Is(err, authz.ErrUnknownObject) {
		return "", nil, nil, nil, apierr.NotFound("app", req.GetAppId())
	}
	if err != nil {
		return "", nil, nil, nil, err
	}
	app = obj.Object.ID
	if domains, err = topo.AppDomains(ctx, app); err != nil {
		return "", nil, nil, nil, err
	}
	if domains == nil {
		domains = []string{}
	}
	appParts, err := appPartitions(app, obj.Parents)
	if err != nil {
		return "", nil, nil, nil, err
	}
	if len(req.GetClusterIds()) == 0 {
		return app, domains, appParts, nil, nil
	}
	var f apierr.Fields
	for i, ref := range req.GetClusterIds() {
		id, part, ok := topo.ResolveCluster(ref)
		switch {
		case !ok:
			return "", nil, nil, nil, apierr.NotFound("cluster", ref)
		case !slices.Contains(appParts, part):
			f.Addf(fmt.Sprintf("cluster_ids[%d]", i), "cluster %s is in partition %s, which does not serve app %s", ref, part, app)
		case !slices.Contains(clusters, id):
			clusters = append(clusters, id)
			if !slices.Contains(parts, part) {
				parts = append(parts, part)
			}
		}
	}
	if err := f.Err(); err != nil {
		return "", nil, nil, nil, err
	}
	slices.Sort(clusters)
	slices.Sort(parts)
	return app, domains, parts, clusters, nil
}

// CreatePush validates a push, records it, and publishes its command to
// every partition it covers. The nodes it waits for are those online now.
func (s *Service) CreatePush(ctx context.Context, req *purgev1.CreatePushRequest) (*purgev1.Push, error) {
	if err := checkPush(req, nil); err != nil {
		return nil, err
	}
	topo, ok := s.opts.Topology.(PushTopology)
	if !ok {
		return nil, apierr.FailedPrecondition("this purge service knows no app domains or clusters: pushes are off")
	}
	app, domains, parts, clusters, err := s.pushTargets(ctx, topo, req)
	if err != nil {
		return nil, err
	}
	if err := checkPush(req, domains); err != nil {
		return nil, err
	}
	online := s.onlineNodes()
	clusterOf := func(node string) string { c, _ := topo.NodeCluster(node); return c }
	id := ids.New(prefixPush)
	now := s.opts.Now().UTC()
	msg := pushRequested(id, app, req, parts, clusters, online, clusterOf, now)
	if err := s.send(ctx, "push", id, msg, msg.GetCommand(), parts); err != nil {
		return nil, err
	}
	s.log.Info("push sent", "push", id, "app", app, "urls", len(req.GetUrls()),
		"partitions", len(parts), "clusters", len(clusters), "nodes", len(msg.GetExpectedNodeIds()))
	v, _ := s.model.viewPush(id, true)
	return v, nil
}

func (h *handler) CreatePush(ctx context.Context, req *purgev1.CreatePushRequest) (*purgev1.CreatePushResponse, error) {
	p, err := h.s.CreatePush(ctx, req)
	return apierr.Reply(h.s.log, &purgev1.CreatePushResponse{Push: p}, err)
}

func (h *handler) GetPush(ctx context.Context, req *purgev1.GetPushRequest) (*purgev1.GetPushResponse, error) {
	p, err := find(ctx, h.s, "push", req.GetId(), func(id string) (*purgev1.Push, bool) { return h.s.model.viewPush(id, true) })
	return apierr.Reply(h.s.log, &purgev1.GetPushResponse{Push: p}, err)
}

func (h *handler) ListPushes(_ context.Context, req *purgev1.ListPushesRequest) (*purgev1.ListPushesResponse, error) {
	pg, err := listfilter.Start(pushSchema, listfilter.Request{PageSize: req.GetPageSize(), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, apierr.ToConnect(err)
	}
	resp := &purgev1.ListPushesResponse{}
	resp.Pushes, resp.NextPageToken = h.s.model.listPushes(pg)
	return resp, nil
}
