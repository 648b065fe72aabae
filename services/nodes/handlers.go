package nodes

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/config/v1"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/configevents"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/natsauth"
	"github.com/strata-edge/strata/pkg/validate"
)

const (
	maxDescriptionLength = 200
)

// toConnect maps service errors to Connect errors, logging unexpected ones.
func (s *Service) toConnect(err error) error {
	if err == nil {
		return nil
	}
	return apierr.ToConnectLog(s.log, err)
}

// CreateJoinToken records a new join token for a cluster and returns its
// secret, which is never stored and cannot be shown again.
func (s *Service) CreateJoinToken(ctx context.Context, req *configv1.CreateJoinTokenRequest) (*configv1.CreateJoinTokenResponse, error) {
	resp, err := s.createJoinToken(ctx, req)
	return resp, s.toConnect(err)
}

func (s *Service) createJoinToken(ctx context.Context, req *configv1.CreateJoinTokenRequest) (*configv1.CreateJoinTokenResponse, error) {
	var bad apierr.Fields
	if req.GetCluster() == "" {
		bad = append(bad, apierr.FieldViolation{Field: "cluster", Reason: "is required (a cluster id or name)"})
	}
	ttl := defaultTokenTTL
	if req.GetTtlSeconds() != 0 {
		ttl = time.Duration(req.GetTtlSeconds()) * time.Second
		if ttl > maxTokenTTL {
			bad = append(bad, apierr.FieldViolation{Field: "ttl_seconds", Reason: fmt.Sprintf("%d is more than %d (30 days); 0 means 24 hours", req.GetTtlSeconds(), int(maxTokenTTL.Seconds()))})
		}
	}
	bad.Add("description", checkDescription(req.GetDescription()))
	if len(bad) > 0 {
		return nil, apierr.Invalid(bad...)
	}

	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	cluster, ok := s.model.cluster(req.GetCluster())
	if !ok {
		return nil, apierr.NotFound("cluster", req.GetCluster())
	}
	id := ids.New(prefixJoinToken)
	secret, digest := newSecret()
	expires := timestamppb.New(s.opts.Now().Add(ttl).UTC().Truncate(time.Second))
	created := &ev.JoinTokenCreated{
		TokenId:      id,
		ClusterId:    cluster.GetId(),
		SecretSha256: digest,
		ExpiresAt:    expires,
		AutoApprove:  req.GetAutoApprove(),
		Staging:      req.GetStaging(),
		Description:  req.GetDescription(),
	}
	if err := s.appendEvent(ctx, joinTokenStream(id), 0, configevents.TypeJoinTokenCreated, created, apiauth.Actor(ctx)); err != nil {
		return nil, err
	}
	st, _ := s.model.token(id)
	return &configv1.CreateJoinTokenResponse{JoinToken: st.token, Token: formatToken(id, secret)}, nil
}

// ListJoinTokens lists every join token (revoked and expired ones too), in
// creation order, without secrets.
func (s *Service) ListJoinTokens(ctx context.Context, req *configv1.ListJoinTokensRequest) (*configv1.ListJoinTokensResponse, error) {
	if err := s.catchUp(ctx); err != nil {
		return nil, s.toConnect(err)
	}
	all := s.model.allTokens()
	order := make(map[string]int, len(all)) // never deleted: the position is a stable key
	for i, t := range all {
		order[t.GetId()] = i
	}
	out := &configv1.ListJoinTokensResponse{}
	var err error
	out.JoinTokens, out.NextPageToken, err = listfilter.Paged(joinTokenSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter}, all,
		func(t *configv1.JoinToken) string { return listfilter.Asc(uint64(order[t.GetId()])) })
	return apierr.Reply(s.log, out, err)
}

// joinTokenSchema is what ListJoinTokens filters on (docs/api.md, "Filtering").
var joinTokenSchema = listfilter.Schema[*configv1.JoinToken]{
	"id":           listfilter.String((*configv1.JoinToken).GetId),
	"cluster_id":   listfilter.String((*configv1.JoinToken).GetClusterId),
	"description":  listfilter.String((*configv1.JoinToken).GetDescription),
	"auto_approve": listfilter.Bool((*configv1.JoinToken).GetAutoApprove),
	"staging":      listfilter.Bool((*configv1.JoinToken).GetStaging),
	"revoked":      listfilter.Bool((*configv1.JoinToken).GetRevoked),
	"expires_at":   listfilter.Time(func(t *configv1.JoinToken) time.Time { return t.GetExpiresAt().AsTime() }),
}

// RevokeJoinToken stops a token from admitting nodes. Nodes that already
// joined with it are not affected. Revoking twice is not an error.
func (s *Service) RevokeJoinToken(ctx context.Context, req *configv1.RevokeJoinTokenRequest) (*configv1.RevokeJoinTokenResponse, error) {
	err := s.revokeJoinToken(ctx, req)
	return apierr.Reply(s.log, &configv1.RevokeJoinTokenResponse{}, err)
}

func (s *Service) revokeJoinToken(ctx context.Context, req *configv1.RevokeJoinTokenRequest) error {
	if req.GetTokenId() == "" {
		return apierr.Invalid(apierr.FieldViolation{Field: "token_id", Reason: "is required"})
	}
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return err
	}
	revoked, version, err := s.model.revokeToken(req.GetTokenId())
	if err != nil || revoked == nil {
		return err
	}
	return s.appendEvent(ctx, joinTokenStream(revoked.GetTokenId()), version, configevents.TypeJoinTokenRevoked,
		revoked, apiauth.Actor(ctx))
}

// ApproveNode lets a node that joined with a token needing approval get its
// credentials (on its next Join call). Approving twice is not an error.
func (s *Service) ApproveNode(ctx context.Context, req *configv1.ApproveNodeRequest) (*configv1.ApproveNodeResponse, error) {
	n, err := s.changeNode(ctx, req.GetNodeId(), approveNode)
	return apierr.Reply(s.log, &configv1.ApproveNodeResponse{Node: n}, err)
}

// SetNodeDisabled marks a node offline (drained) or back online, without
// removing it: its credentials stay valid.
func (s *Service) SetNodeDisabled(ctx context.Context, req *configv1.SetNodeDisabledRequest) (*configv1.SetNodeDisabledResponse, error) {
	n, err := s.changeNode(ctx, req.GetNodeId(), setNodeDisabled(req.GetDisabled()))
	return apierr.Reply(s.log, &configv1.SetNodeDisabledResponse{Node: n}, err)
}

// changeNode runs one command on a node: decide returns the event to append
// and whether it changes anything (an unchanged node records nothing).
func (s *Service) changeNode(ctx context.Context, ref string, decide nodeDecision) (*configv1.Node, error) {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	st, typeID, payload, err := s.model.changeNode(ref, decide)
	if err != nil {
		return nil, err
	}
	if payload == nil {
		return st.node, nil
	}
	id := st.node.GetId()
	if err := s.appendEvent(ctx, nodeStream(id), st.version, typeID, payload, apiauth.Actor(ctx)); err != nil {
		return nil, err
	}
	st, ok := s.model.node(id)
	if !ok {
		return nil, nil // removed
	}
	return st.node, nil
}

// Join registers a node in the cluster of its join token, or returns the
// current state of a node that joined before with the same name and key.
// Once the node is approved, the response carries its NATS user JWT.
func (s *Service) Join(ctx context.Context, req *configv1.JoinRequest) (*configv1.JoinResponse, error) {
	resp, err := s.join(ctx, req)
	return resp, s.toConnect(err)
}

func (s *Service) join(ctx context.Context, req *configv1.JoinRequest) (*configv1.JoinResponse, error) {
	if s.opts.Authority == nil {
		return nil, apierr.FailedPrecondition("this process does not serve NodeService (no NATS authority)")
	}
	tokenID, digest, err := parseToken(req.GetJoinToken())
	if err != nil {
		return nil, connect.NewError(connect.CodeUnauthenticated, err)
	}
	var bad apierr.Fields
	bad.Add("name", validate.Name(req.GetName()))
	if !nkeys.IsValidPublicUserKey(req.GetPublicKey()) {
		bad = append(bad, apierr.FieldViolation{Field: "public_key", Reason: "is not an nkey user public key (\"U...\", e.g. from nkeys.CreateUser)"})
	}
	bad = append(bad, checkKEKKey(req)...)
	ipv4, r4 := checkPublicIP(req.GetPublicIpv4(), false)
	if r4 != "" {
		bad = append(bad, apierr.FieldViolation{Field: "public_ipv4", Reason: r4})
	}
	ipv6, r6 := checkPublicIP(req.GetPublicIpv6(), true)
	if r6 != "" {
		bad = append(bad, apierr.FieldViolation{Field: "public_ipv6", Reason: r6})
	}

	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	if err := s.catchUp(ctx); err != nil {
		return nil, err
	}
	d, err := s.model.join(joining{tokenID: tokenID, digest: digest, name: req.GetName(), key: req.GetPublicKey(),
		ipv4: ipv4, ipv6: ipv6, bad: bad, now: s.opts.Now(), id: ids.New(prefixNode)})
	if err != nil {
		return nil, err
	}
	cluster, key, nodeID := d.cluster, req.GetPublicKey(), d.node.GetId()
	if d.event != nil {
		if err := s.appendEvent(ctx, nodeStream(nodeID), d.version, d.typeID, d.event, "join_token:"+tokenID); err != nil {
			return nil, err
		}
		if d.version == 0 {
			s.log.Info("node joined", "node_id", nodeID, "name", req.GetName(), "cluster_id", cluster.GetId(), "approved", d.node.GetApproved())
		} else {
			s.log.Info("node addresses changed", "node_id", nodeID, "public_ipv4", ipv4, "public_ipv6", ipv6)
		}
	}
	st, _ := s.model.node(nodeID)
	resp := &configv1.JoinResponse{
		Node:        st.node,
		PartitionId: cluster.GetPartitionId(),
		Approved:    st.node.GetApproved(),
	}
	if !resp.Approved {
		return resp, nil
	}
	userJWT, err := s.opts.Authority.NodeUser(st.node.GetId(), cluster.GetPartitionId(), key)
	if errors.Is(err, natsauth.ErrRevoked) {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("public_key: is revoked; generate a new key to join again"))
	}
	if err != nil {
		return nil, fmt.Errorf("issue node credentials: %w", err)
	}
	resp.UserJwt = userJWT
	resp.LeafUrls = append([]string(nil), s.opts.LeafURLs...)
	if resp.NodeKek, err = s.sealNodeKEK(st.node.GetId(), cluster.GetPartitionId(), req.GetKekPublicKey()); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkPublicIP validates an optional public address of a node and returns
// its canonical form, or the reason it is not acceptable.
func checkPublicIP(v string, want6 bool) (string, string) {
	if v == "" {
		return "", ""
	}
	ip, err := netip.ParseAddr(v)
	switch {
	case err != nil:
		return "", fmt.Sprintf("%q is not an IP address", v)
	case ip.Zone() != "":
		return "", fmt.Sprintf("%q has a zone; give a global address", v)
	case !want6 && !ip.Is4():
		return "", fmt.Sprintf("%q is not an IPv4 address", v)
	case want6 && (!ip.Is6() || ip.Is4In6()):
		return "", fmt.Sprintf("%q is not an IPv6 address", v)
	case ip.IsUnspecified() || ip.IsMulticast():
		return "", fmt.Sprintf("%q is not a unicast address clients can reach", v)
	}
	return ip.String(), ""
}

func checkDescription(d string) string {
	if !utf8.ValidString(d) {
		return "is not valid UTF-8"
	}
	if n := utf8.RuneCountInString(d); n > maxDescriptionLength {
		return fmt.Sprintf("is %d characters long, more than %d", n, maxDescriptionLength)
	}
	for _, r := range d {
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}
