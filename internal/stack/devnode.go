package stack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/internal/edge"
	"github.com/strata-edge/strata/node/join"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/secretfile"
	"github.com/strata-edge/strata/services/nodes"
)

// The built-in edge node of strata dev.
const (
	devNodeName    = "dev"
	devNodeCluster = "default"
	// devJoinTokenFile keeps the dev node's join token (mode 0600), so that
	// restarts reuse it instead of making a token per start.
	devJoinTokenFile = "join.token"
	devJoinTokenTTL  = 30 * 24 * 60 * 60 // seconds: the longest a token may live
)

// devPrincipal is the actor recorded on the dev node's join token.
var devPrincipal = apiauth.Principal{Name: "strata-dev", Kind: "system"}

// startDevNode joins the built-in edge node through the nodes service's own
// Join (the code path of the API, in-process) with an auto-approve join
// token for cluster "default", then starts it.
func startDevNode(ctx context.Context, svc *nodes.Service, o DevOptions, log *slog.Logger) (*edge.Edge, error) {
	dir := filepath.Join(o.DataDir, devNodeDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("edge node: %w", err)
	}
	j := &devJoiner{svc: svc, tokenFile: filepath.Join(dir, devJoinTokenFile)}
	token, err := j.token(ctx)
	if err != nil {
		return nil, err
	}
	en, err := edge.Start(ctx, edge.Options{
		// Gateway records of cluster "default" answer with the dev node.
		Options: join.Options{DataDir: dir, Name: devNodeName, JoinToken: token, Joiner: j,
			PublicIPs: []string{"127.0.0.1"}, Logger: log.With("part", "edge")},
		HTTPAddr: o.HTTPAddr, HTTPSAddr: o.HTTPSAddr, HTTPPort: o.HTTPPort, HTTPSPort: o.HTTPSPort,
		DNSAddr: o.DNSAddr, KEK: devNodeKEK(o.DataDir), XDPIfaces: o.XDPIfaces,
		StreamHost: "127.0.0.1", // stream apps' ports on loopback only
	})
	if connect.CodeOf(err) == connect.CodeAlreadyExists {
		return nil, fmt.Errorf("edge node: %w (%s lost the key the dev node joined with: start once with --no-node, "+
			"remove the old node with `strata node remove`, then start again)", err, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("edge node: %w", err)
	}
	return en, nil
}

// devJoiner joins with the stored dev token and, when the service refuses
// it (expired, revoked, or the data dir was reset), with a new one.
type devJoiner struct {
	svc       *nodes.Service
	tokenFile string
}

// token returns the stored join token, or makes one.
func (j *devJoiner) token(ctx context.Context) (string, error) {
	b, err := secretfile.Read(j.tokenFile)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return j.newToken(ctx)
}

func (j *devJoiner) newToken(ctx context.Context) (string, error) {
	res, err := j.svc.CreateJoinToken(apiauth.WithPrincipal(ctx, devPrincipal), &configv1.CreateJoinTokenRequest{
		Cluster: devNodeCluster, TtlSeconds: devJoinTokenTTL, AutoApprove: true,
		Description: "strata dev: the built-in edge node",
	})
	if err != nil {
		return "", fmt.Errorf("create the dev node's join token: %w", err)
	}
	if err := secretfile.Write(j.tokenFile, []byte(res.GetToken()+"\n")); err != nil {
		return "", err
	}
	return res.GetToken(), nil
}

func (j *devJoiner) Join(ctx context.Context, req *configv1.JoinRequest) (*configv1.JoinResponse, error) {
	res, err := j.svc.Join(ctx, req)
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		return res, err
	}
	token, terr := j.newToken(ctx)
	if terr != nil {
		return nil, errors.Join(err, terr)
	}
	retry := proto.Clone(req).(*configv1.JoinRequest)
	retry.JoinToken = token
	return j.svc.Join(ctx, retry)
}
