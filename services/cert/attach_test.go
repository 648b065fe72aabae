package cert

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
	"github.com/strata-edge/strata/pkg/certtest"
)

// TestAttachRejectsUnknownApp: with an app resolver (the config service in
// a deployment), attach, upload and request refuse an app that does not
// exist, naming the field, and record nothing; an app name is stored as
// its id; detaching from a vanished app still works.
func TestAttachRejectsUnknownApp(t *testing.T) {
	e := newEnv(t)
	apps := authz.ObjectResolverFunc(func(_ context.Context, kind, ref string) (authz.ResolvedObject, error) {
		if kind == authz.KindApp && (ref == "app_shop" || ref == "shop") {
			return authz.ResolvedObject{Object: authz.Object{Kind: kind, ID: "app_shop"}, Name: "shop"}, nil
		}
		return authz.ResolvedObject{}, fmt.Errorf("%s %q: %w", kind, ref, authz.ErrUnknownObject)
	})
	svc, err := New(Options{Store: e.store, KEK: e.kek, Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop(context.Background()) })
	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"shop.example.com"}})

	wantField := func(t *testing.T, err error, field string) {
		t.Helper()
		ce := apierr.ToConnect(err)
		if ce == nil || ce.Code() != connect.CodeInvalidArgument {
			t.Fatalf("err = %v, want InvalidArgument", err)
		}
		if !strings.Contains(ce.Message(), field+":") || !strings.Contains(ce.Message(), "does not exist") {
			t.Fatalf("err = %v, want a violation of %s saying the app does not exist", err, field)
		}
	}
	head, _ := e.store.Head(e.ctx)
	_, _, err = svc.Upload(e.ctx, &certv1.UploadCertificateRequest{ChainPem: chain, KeyPem: leaf.KeyPEM(t), AppIds: []string{"shop", "app_gone"}})
	wantField(t, err, "app_ids[1]")
	_, _, err = svc.Request(e.ctx, &certv1.RequestCertificateRequest{AppId: "app_gone", Domains: []string{"shop.example.com"}})
	wantField(t, err, "app_id")
	if after, _ := e.store.Head(e.ctx); after != head {
		t.Fatalf("rejected calls recorded events (head %d -> %d)", head, after)
	}

	c, _, err := svc.Upload(e.ctx, &certv1.UploadCertificateRequest{Name: "shop", ChainPem: chain, KeyPem: leaf.KeyPEM(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.Attach(e.ctx, c.Id, "app_gone", true, false, nil)
	wantField(t, err, "app_id")
	got, _, err := svc.Attach(e.ctx, c.Id, "shop", true, false, nil) // by name
	if err != nil || len(got.AppIds) != 1 || got.AppIds[0] != "app_shop" {
		t.Fatalf("attach by name: %v %v", got, err)
	}
	if list, err := svc.List(e.ctx, "shop"); err != nil || len(list) != 1 {
		t.Fatalf("list by app name: %v %v, want the attached certificate", list, err)
	}
	got, _, err = svc.Attach(e.ctx, c.Id, "shop", false, false, nil) // detach by name
	if err != nil || len(got.AppIds) != 0 {
		t.Fatalf("detach by name: %v %v", got, err)
	}
	if _, _, err := svc.Attach(e.ctx, c.Id, "app_gone", false, false, nil); err != nil {
		t.Fatalf("detach from an unknown app: %v", err)
	}
}
