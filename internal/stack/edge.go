package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/node"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// Files of an edge node's data directory, beside node.db and node.creds
// (written by package node).
const (
	// EdgeKeyFile holds the node's nkey user seed (mode 0600). It is made
	// on the first start and never leaves the node: it is the node's
	// identity towards the control plane and the hub.
	EdgeKeyFile = "node.nk"
	// EdgeStateFile records what the control plane said at the last
	// successful join: ids, staging and the hub's leaf URLs.
	EdgeStateFile = "node.json"
)

// DefaultJoinPoll is how often a node waiting for approval asks again.
const DefaultJoinPoll = 5 * time.Second

// Joiner is NodeService.Join: the in-process service (strata dev) or an API
// client (strata node).
type Joiner interface {
	Join(ctx context.Context, req *configv1.JoinRequest) (*configv1.JoinResponse, error)
}

// EdgeOptions configures StartEdge.
type EdgeOptions struct {
	// DataDir keeps the node's key, its join state, credentials and stored
	// config; restarts reuse it.
	DataDir string
	// Name is the node's name in its cluster.
	Name string
	// JoinToken, when set, is presented to Joiner; without it the node
	// starts from the identity stored by an earlier join.
	JoinToken string
	Joiner    Joiner
	// HTTPAddr and HTTPSAddr are the proxy listeners; HTTPPort and
	// HTTPSPort the ports apps name for them (0: the bound ports).
	HTTPAddr, HTTPSAddr string
	HTTPPort, HTTPSPort uint32
	// DNSAddr, optional, is the authoritative DNS server's address (UDP and
	// TCP); empty: no DNS.
	DNSAddr string
	// PublicIPs, optional, are the node's public addresses (at most one
	// IPv4 and one IPv6), sent at join: gateway DNS records answer with the
	// addresses of a cluster's healthy nodes.
	PublicIPs []string
	// TierAddr, optional, is the host:port child clusters' nodes reach the
	// HTTP listener at for parent-tier cache fetches; empty: the bound HTTP
	// address, an unspecified host replaced by the first of PublicIPs.
	TierAddr string
	// JoinPoll is the interval between Join calls while waiting for
	// approval or for the control plane; default DefaultJoinPoll.
	JoinPoll time.Duration
	Logger   *slog.Logger
	// KEK, optional, returns the node KEK of the node's partition (the dev
	// node derives it from the control KEK); nil: STRATA_NODE_KEK or
	// DATA_DIR/node.kek, else certificates are not served.
	KEK func(partitionID string) (*keywrap.Keyring, error)
	// Progress receives lines for the person starting the node (waiting for
	// approval, control plane unreachable); nil: none.
	Progress io.Writer
}

// edgeState is EdgeStateFile.
type edgeState struct {
	NodeID      string   `json:"node_id"`
	Name        string   `json:"name"`
	ClusterID   string   `json:"cluster_id"`
	PartitionID string   `json:"partition_id"`
	Staging     bool     `json:"staging"`
	LeafURLs    []string `json:"leaf_urls"`
}

// Edge is a running edge node with the identity it joined with.
type Edge struct {
	node  *node.Node
	state edgeState
}

// StartEdge joins the control plane (when a join token is given) and starts
// the edge node. A node waiting for approval calls Join again every
// JoinPoll until it is approved or ctx ends. When Join fails and an earlier
// join left an identity in DataDir, the node starts from it anyway: it
// serves its stored config while the control plane is away and links to the
// hub when it can (static stability).
func StartEdge(ctx context.Context, o EdgeOptions) (*Edge, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.JoinPoll <= 0 {
		o.JoinPoll = DefaultJoinPoll
	}
	if o.DataDir == "" {
		return nil, errors.New("--data: required (the node's data directory)")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data: create %q: %w", o.DataDir, err)
	}
	kp, seed, err := loadOrCreateNodeKey(filepath.Join(o.DataDir, EdgeKeyFile))
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	stored, err := loadEdgeState(o.DataDir)
	if err != nil {
		return nil, err
	}

	var state edgeState
	var creds *node.Credentials
	switch {
	case o.JoinToken != "" && o.Joiner != nil:
		res, err := joinUntilApproved(ctx, o, kp, stored != nil, log)
		if err == nil {
			state = edgeState{NodeID: res.GetNode().GetId(), Name: res.GetNode().GetName(),
				ClusterID: res.GetNode().GetClusterId(), PartitionID: res.GetPartitionId(),
				Staging: res.GetNode().GetStaging(), LeafURLs: res.GetLeafUrls()}
			if err := saveEdgeState(o.DataDir, state); err != nil {
				return nil, err
			}
			creds = &node.Credentials{JWT: res.GetUserJwt(), Seed: seed}
			break
		}
		if stored == nil || ctx.Err() != nil {
			return nil, err
		}
		token, serr := storedJWT(filepath.Join(o.DataDir, node.CredentialsFile), pub)
		if serr != nil {
			return nil, fmt.Errorf("%w; and the stored credentials are unusable: %w", err, serr)
		}
		log.Warn("join failed; starting from the stored identity and config", "err", err)
		progress(o.Progress, "Join failed (%v); starting node %s from its stored identity and config.\n", err, stored.NodeID)
		state, creds = *stored, &node.Credentials{JWT: token, Seed: seed}
	default:
		if stored == nil {
			return nil, fmt.Errorf("--join-token: required: %s holds no node identity from an earlier join", o.DataDir)
		}
		token, err := storedJWT(filepath.Join(o.DataDir, node.CredentialsFile), pub)
		if err != nil {
			return nil, err
		}
		state, creds = *stored, &node.Credentials{JWT: token, Seed: seed}
	}
	if o.Name != "" && state.Name != "" && o.Name != state.Name {
		log.Warn("the node keeps the name it joined with", "name", state.Name, "given", o.Name)
	}

	kek, err := edgeKEK(o, state.PartitionID)
	if err != nil {
		return nil, err
	}
	n, err := node.New(node.Options{
		KEK:     kek,
		DataDir: o.DataDir, HubLeafURLs: state.LeafURLs, Credentials: creds,
		NodeID: state.NodeID, ClusterID: state.ClusterID, PartitionID: state.PartitionID, Staging: state.Staging,
		HTTPAddr: o.HTTPAddr, HTTPSAddr: o.HTTPSAddr, HTTPPort: o.HTTPPort, HTTPSPort: o.HTTPSPort,
		DNSAddr: o.DNSAddr, Logger: log,
		TierAddr: o.TierAddr, TierHost: firstOf(o.PublicIPs),
	})
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	return &Edge{node: n, state: state}, nil
}

// joinUntilApproved calls Join until the node is approved. While the node
// waits for approval, and (when it has nothing stored to start from) while
// the control plane is unreachable, it asks again every o.JoinPoll.
func joinUntilApproved(ctx context.Context, o EdgeOptions, kp nkeys.KeyPair, haveStored bool, log *slog.Logger) (*configv1.JoinResponse, error) {
	pub, _ := kp.PublicKey()
	req := &configv1.JoinRequest{JoinToken: o.JoinToken, Name: o.Name, PublicKey: pub}
	// A one-time transport key: the control plane seals the partition's
	// node KEK to it once the node is approved (saveSealedKEK).
	tk, err := keywrap.NewTransportKey()
	if err != nil {
		return nil, err
	}
	req.KekPublicKey = tk.Public()
	if req.KekPublicKeySignature, err = kp.Sign(keywrap.NodeKEKSignedMessage(req.KekPublicKey)); err != nil {
		return nil, fmt.Errorf("sign transport key: %w", err)
	}
	if req.PublicIpv4, req.PublicIpv6, err = SplitPublicIPs("public IP", o.PublicIPs); err != nil {
		return nil, err
	}
	told := false
	for {
		res, err := o.Joiner.Join(ctx, req)
		switch {
		case err == nil && res.GetApproved():
			if res.GetUserJwt() == "" || len(res.GetLeafUrls()) == 0 {
				return nil, errors.New("join: approved, but the control plane sent no credentials or no leaf URLs (is the nodes service configured with the hub's leaf URL?)")
			}
			if err := saveSealedKEK(o.DataDir, tk, res); err != nil {
				return nil, err
			}
			return res, nil
		case err == nil:
			if !told {
				told = true
				progress(o.Progress, "Waiting for approval: node %s (%s) joined cluster %s; approve it with `strata node approve %s`.\n",
					res.GetNode().GetId(), res.GetNode().GetName(), res.GetNode().GetClusterId(), res.GetNode().GetId())
			}
			log.Info("waiting for approval", "node_id", res.GetNode().GetId())
		case !haveStored && transient(err):
			log.Warn("control plane unreachable; retrying", "err", err)
			if !told {
				told = true
				progress(o.Progress, "Control plane unreachable (%v); retrying every %s.\n", err, o.JoinPoll)
			}
		default:
			return nil, fmt.Errorf("join: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join: %w", ctx.Err())
		case <-time.After(o.JoinPoll):
		}
	}
}

// saveSealedKEK opens the node KEK the control plane sealed to tk and
// writes it to DATA_DIR/node.kek (mode 0600), where later starts read it
// without the control plane. A response without one leaves the file as is.
func saveSealedKEK(dir string, tk *keywrap.TransportKey, res *configv1.JoinResponse) error {
	sealed := res.GetNodeKek()
	if sealed == nil {
		return nil
	}
	if sealed.GetSuite() != keywrap.SealedSuite {
		return fmt.Errorf("join: node KEK sealed with suite %q, want %q", sealed.GetSuite(), keywrap.SealedSuite)
	}
	plain, err := tk.Open(keywrap.NodeKEKInfo(res.GetNode().GetId(), res.GetPartitionId()), sealed.GetCiphertext())
	if err != nil {
		return fmt.Errorf("join: open the sealed node KEK: %w", err)
	}
	defer clear(plain)
	if _, err := keywrap.Parse(string(plain)); err != nil {
		return fmt.Errorf("join: sealed node KEK: %w", err)
	}
	return secretfile.Write(filepath.Join(dir, NodeKEKFile), plain)
}

// transient reports errors worth retrying: the control plane is down or
// overloaded, not a refusal.
func transient(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeResourceExhausted, connect.CodeAborted:
		return true
	}
	return false
}

func progress(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, format, a...)
	}
}

// Stop stops the node.
func (e *Edge) Stop(ctx context.Context) error { return e.node.Stop(ctx) }

// Node is the running node.
func (e *Edge) Node() *node.Node { return e.node }

// NodeID is the id the control plane gave the node.
func (e *Edge) NodeID() string { return e.state.NodeID }

// Name is the node's name in its cluster.
func (e *Edge) Name() string { return e.state.Name }

// ClusterID and PartitionID are where the node belongs.
func (e *Edge) ClusterID() string   { return e.state.ClusterID }
func (e *Edge) PartitionID() string { return e.state.PartitionID }

// DNSAddr is the bound DNS address ("" when none).
func (e *Edge) DNSAddr() string { return e.node.DNSAddr() }

// HTTPAddr and HTTPSAddr are the bound proxy addresses ("" when none).
func (e *Edge) HTTPAddr() string  { return e.node.ProxyHTTPAddr() }
func (e *Edge) HTTPSAddr() string { return e.node.ProxyHTTPSAddr() }

// loadOrCreateNodeKey reads the node's nkey user seed, creating it (mode
// 0600) on the first start.
func loadOrCreateNodeKey(path string) (nkeys.KeyPair, []byte, error) {
	b, err := secretfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, nil, fmt.Errorf("create node key: %w", err)
		}
		seed, _ := kp.Seed()
		if err := secretfile.Write(path, append(seed, '\n')); err != nil {
			return nil, nil, err
		}
		return kp, seed, nil
	}
	if err != nil {
		return nil, nil, err
	}
	seed := []byte(strings.TrimSpace(string(b)))
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, nil, fmt.Errorf("node key %s: not an nkey seed: %w", path, err)
	}
	if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicUserKey(pub) {
		return nil, nil, fmt.Errorf("node key %s: not a user seed (SU...)", path)
	}
	return kp, seed, nil
}

// storedJWT reads the user JWT of the credentials file package node wrote,
// which must have been issued for the node's key pub.
func storedJWT(path, pub string) (string, error) {
	b, err := secretfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: missing; the node needs a join token to get credentials again", path)
	}
	if err != nil {
		return "", err
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	claims, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if claims.Subject != pub {
		return "", fmt.Errorf("%s: issued for another key than %s (the node key changed); join again with a join token", path, EdgeKeyFile)
	}
	return token, nil
}

func loadEdgeState(dir string) (*edgeState, error) {
	path := filepath.Join(dir, EdgeStateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var st edgeState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.NodeID == "" || st.PartitionID == "" || len(st.LeafURLs) == 0 {
		return nil, fmt.Errorf("%s: node_id, partition_id and leaf_urls are required; delete the file and join again", path)
	}
	return &st, nil
}

func saveEdgeState(dir string, st edgeState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return secretfile.Write(filepath.Join(dir, EdgeStateFile), append(b, '\n'))
}

// SplitPublicIPs sorts a node's public addresses into its one IPv4 and one
// IPv6 address (either may be empty); field names the option in errors.
func SplitPublicIPs(field string, ips []string) (ipv4, ipv6 string, err error) {
	for _, raw := range ips {
		ip, perr := netip.ParseAddr(raw)
		switch {
		case perr != nil || ip.Zone() != "":
			return "", "", fmt.Errorf("%s %q: not an IP address", field, raw)
		case ip.Is4() || ip.Is4In6():
			if ipv4 != "" {
				return "", "", fmt.Errorf("%s %q: a node has one IPv4 address, %s was given already", field, raw, ipv4)
			}
			ipv4 = ip.Unmap().String()
		default:
			if ipv6 != "" {
				return "", "", fmt.Errorf("%s %q: a node has one IPv6 address, %s was given already", field, raw, ipv6)
			}
			ipv6 = ip.String()
		}
	}
	return ipv4, ipv6, nil
}

// firstOf is the first element of s, "" when empty.
func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
