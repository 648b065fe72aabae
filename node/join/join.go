// Package join is the node side of joining the control plane
// (NodeService.Join) and the node's identity files. With package node it
// owns the node's whole data directory:
//
//	node.nk     KeyFile: the node's nkey user seed, made on the first start;
//	            it never leaves the node
//	node.json   StateFile: what the control plane said at the last join
//	node.kek    KEKFile: the partition's node KEK, sealed to the node at join
//	node.creds  CredentialsFile: the NATS credentials (written by package node)
//	node.db     the config store, and cache/ the HTTP cache (package node)
package join

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nkeys"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// DefaultPoll is how often a node waiting for approval asks again.
const DefaultPoll = 5 * time.Second

// Joiner is NodeService.Join: the in-process service (strata dev) or an API
// client (strata node).
type Joiner interface {
	Join(ctx context.Context, req *configv1.JoinRequest) (*configv1.JoinResponse, error)
}

// Options configures Run.
type Options struct {
	// DataDir keeps the identity files; restarts reuse them.
	DataDir string
	// Name is the node's name in its cluster.
	Name string
	// JoinToken, when set, is presented to Joiner; without it the node
	// starts from the identity stored by an earlier join.
	JoinToken string
	Joiner    Joiner
	// PublicIPs, optional, are the node's public addresses (at most one
	// IPv4 and one IPv6), sent at join: gateway DNS records answer with the
	// addresses of a cluster's healthy nodes.
	PublicIPs []string
	// Poll is the interval between Join calls while waiting for approval
	// or for the control plane; default DefaultPoll.
	Poll   time.Duration
	Logger *slog.Logger
	// Progress receives lines for the person starting the node (waiting for
	// approval, control plane unreachable); nil: none.
	Progress io.Writer
}

// Identity is who the node is: its last join's state and NATS credentials.
type Identity struct {
	State
	// JWT is the user JWT the control plane issued for Seed's key.
	JWT  string
	Seed []byte
}

// Run joins the control plane (when a join token is given) and returns the
// node's identity. A node waiting for approval calls Join again every Poll
// until it is approved or ctx ends. When Join fails and an earlier join left
// an identity in DataDir, Run returns that one: the node serves its stored
// config while the control plane is away (static stability).
func Run(ctx context.Context, o Options) (*Identity, error) {
	id, err := run(ctx, o)
	if err == nil && o.Name != "" && id.Name != "" && o.Name != id.Name && o.Logger != nil {
		o.Logger.Warn("the node keeps the name it joined with", "name", id.Name, "given", o.Name)
	}
	return id, err
}

func run(ctx context.Context, o Options) (*Identity, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.DataDir == "" {
		return nil, errors.New("--data: required (the node's data directory)")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data: create %q: %w", o.DataDir, err)
	}
	kp, seed, err := loadOrCreateKey(filepath.Join(o.DataDir, KeyFile))
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	stored, err := loadState(o.DataDir)
	if err != nil {
		return nil, err
	}
	fromStored := func() (*Identity, error) {
		token, err := storedJWT(filepath.Join(o.DataDir, CredentialsFile), pub)
		if err != nil {
			return nil, err
		}
		return &Identity{State: *stored, JWT: token, Seed: seed}, nil
	}
	if o.JoinToken == "" || o.Joiner == nil {
		if stored == nil {
			return nil, fmt.Errorf("--join-token: required: %s holds no node identity from an earlier join", o.DataDir)
		}
		return fromStored()
	}
	res, err := untilApproved(ctx, o, kp, stored != nil, log)
	if err != nil {
		if stored == nil || ctx.Err() != nil {
			return nil, err
		}
		id, serr := fromStored()
		if serr != nil {
			return nil, fmt.Errorf("%w; and the stored credentials are unusable: %w", err, serr)
		}
		log.Warn("join failed; starting from the stored identity and config", "err", err)
		progress(o.Progress, "Join failed (%v); starting node %s from its stored identity and config.\n", err, stored.NodeID)
		return id, nil
	}
	st := State{NodeID: res.GetNode().GetId(), Name: res.GetNode().GetName(),
		ClusterID: res.GetNode().GetClusterId(), PartitionID: res.GetPartitionId(),
		Staging: res.GetNode().GetStaging(), LeafURLs: res.GetLeafUrls()}
	if err := saveState(o.DataDir, st); err != nil {
		return nil, err
	}
	return &Identity{State: st, JWT: res.GetUserJwt(), Seed: seed}, nil
}

// untilApproved calls Join until the node is approved. While the node waits
// for approval, and (when it has nothing stored to start from) while the
// control plane is unreachable, it asks again every o.Poll.
func untilApproved(ctx context.Context, o Options, kp nkeys.KeyPair, haveStored bool, log *slog.Logger) (*configv1.JoinResponse, error) {
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
				progress(o.Progress, "Control plane unreachable (%v); retrying every %s.\n", err, o.Poll)
			}
		default:
			return nil, fmt.Errorf("join: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join: %w", ctx.Err())
		case <-time.After(o.Poll):
		}
	}
}

// saveSealedKEK opens the node KEK the control plane sealed to tk and
// writes it to KEKFile (mode 0600), where later starts read it without the
// control plane. A response without one leaves the file as is.
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
	return secretfile.Write(filepath.Join(dir, KEKFile), plain)
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
