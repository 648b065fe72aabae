package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/gen/strata/iam/v1/iamv1connect"
	"github.com/strata-edge/strata/pkg/apiauth"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
)

// api is a Connect client of a running control plane, as one credential.
type api struct {
	config configv1connect.ConfigServiceClient
	iam    iamv1connect.IAMServiceClient
}

// rpcClient is the HTTP client of every API call: a call that hangs (the
// server was killed mid-request) fails instead of holding the test.
var rpcClient = &http.Client{Timeout: 20 * time.Second}

func newAPI(base, token string) api {
	opts := connect.WithInterceptors(apiauth.BearerToken(token))
	return api{
		config: configv1connect.NewConfigServiceClient(rpcClient, base, opts),
		iam:    iamv1connect.NewIAMServiceClient(rpcClient, base, opts),
	}
}

// freeAddr returns 127.0.0.1:PORT of a port free a moment ago, for a
// process that must listen on the same address again after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// auditEvents pages through the whole audit log of one stream (newest first).
func (a api) auditEvents(ctx context.Context, t *testing.T, stream string) []*iamv1.AuditEvent {
	t.Helper()
	var out []*iamv1.AuditEvent
	token := ""
	for {
		res, err := a.iam.ListAuditEvents(ctx, &iamv1.ListAuditEventsRequest{
			Stream: stream, PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatalf("list audit events of %s: %v", stream, err)
		}
		out = append(out, res.GetEvents()...)
		if token = res.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// waitInSync waits until node list shows n online nodes, each in sync at the
// latest version, and returns that version.
func (a api) waitInSync(t *testing.T, n int) uint64 {
	t.Helper()
	var version uint64
	natstest.CheckFor(t, 90*time.Second, 200*time.Millisecond, func() error {
		res, err := a.config.ListNodes(context.Background(), &configv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		inSync := 0
		for _, nd := range res.GetNodes() {
			if nd.GetOnline() && nd.GetInSync() && nd.GetAppliedVersion() == nd.GetLatestVersion() && nd.GetLatestVersion() > 0 {
				inSync++
				version = nd.GetAppliedVersion()
			}
		}
		if inSync != n {
			return fmt.Errorf("%d of %d nodes online and in sync: %v", inSync, n, res.GetNodes())
		}
		return nil
	})
	return version
}

// code is the Connect code of err ("ok" when nil).
func code(err error) string {
	if err == nil {
		return "ok"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code().String()
	}
	return "transport: " + err.Error()
}
