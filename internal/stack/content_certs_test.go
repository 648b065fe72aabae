package stack

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/certtest"
	"github.com/strata-edge/strata/pkg/natsutil/natstest"
	certsvc "github.com/strata-edge/strata/services/cert"
	"github.com/strata-edge/strata/services/edgesync/edgesynctest"
)

// TestSnapshotCarriesAttachedCertificates: a certificate attached to a
// released app reaches the app's partition tracks with its key wrapped for
// the partition's nodes, as a delta and in the snapshot; detaching it or
// deleting the app takes it out again.
func TestSnapshotCarriesAttachedCertificates(t *testing.T) {
	e := newContentEnv(t)
	c, ctx, certs, kek := e.cfg, e.ctx, e.c.cert, e.kek
	app := need(c.CreateApp(ctx, &configv1.CreateAppRequest{Name: "web", Domains: []string{"app.example.com"}}))(t).App
	need(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id}))(t)
	partition := app.PartitionIds[0]

	set := certtest.NewSet(t)
	leaf, chain := set.Leaf(t, certtest.Options{DNSNames: []string{"app.example.com"}})
	up, _, err := certs.Upload(ctx, &certv1.UploadCertificateRequest{ChainPem: chain, KeyPem: leaf.KeyPEM(t), AppIds: []string{app.Id}})
	if err != nil {
		t.Fatal(err)
	}
	nodeKEK, _ := certsvc.NodeKeyring(kek, partition)
	snapCerts := func() []*certv1.SyncedCertificate {
		return e.snapshot(partition, false).Certificates
	}
	got := snapCerts()
	if len(got) != 1 || got[0].Id != up.Id || got[0].ChainPem != up.ChainPem {
		t.Fatalf("snapshot certificates: %v", got)
	}
	der, err := nodeKEK.Open(certsvc.FromProto(got[0].Key), up.Id, got[0].Key.KeyVersion)
	if err != nil || !bytes.Equal(der, leaf.KeyDER(t)) {
		t.Fatalf("node cannot open the key: %v", err)
	}
	// GetSnapshot's JSON shows the certificate but not its wrapped key, and
	// rendering it leaves the projection's snapshot as it is.
	js, _ := e.apiSnapshot(app.PartitionIds[0], false)
	if !strings.Contains(js, `"chain_pem"`) || strings.Contains(js, `"key"`) || strings.Contains(js, "ciphertext") ||
		strings.Contains(js, base64.StdEncoding.EncodeToString(got[0].Key.Ciphertext)) {
		t.Fatalf("snapshot JSON shows the wrapped key or lacks the chain:\n%s", js)
	}
	if e.c.sync.Snapshot(partition, false).Certificates[0].Key == nil {
		t.Fatal("rendering the snapshot removed the key from the projection")
	}
	if staging := e.c.sync.Snapshot(partition, true).Certificates; len(staging) != 1 {
		t.Fatalf("staging track: %d certificates", len(staging))
	}

	// Detach: out of the snapshot. Attach again, then delete the app.
	if _, _, err := certs.Attach(ctx, up.Id, app.Id, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if got := snapCerts(); len(got) != 0 {
		t.Fatalf("after detach: %v", got)
	}
	if _, _, err := certs.Attach(ctx, up.Id, app.Id, true, false, nil); err != nil {
		t.Fatal(err)
	}
	if got := snapCerts(); len(got) != 1 {
		t.Fatalf("after attach: %v", got)
	}
	del := need(c.DeleteApp(ctx, &configv1.DeleteAppRequest{AppId: app.Id}))(t)
	need(c.CreateRelease(ctx, &configv1.CreateReleaseRequest{AppId: app.Id, ExpectedVersion: &del.Version}))(t)
	if got := snapCerts(); len(got) != 0 {
		t.Fatalf("after the app's deletion: %v", got)
	}

	// The published deltas form an unbroken chain carrying the same changes.
	var deltas []*syncv1.Delta
	natstest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		deltas = edgesynctest.Deltas(t, ctx, e.js, partition, false)
		if len(deltas) != 5 {
			return fmt.Errorf("%d deltas published, want 5", len(deltas))
		}
		return nil
	})
	want := []string{"app+", "cert+", "cert-", "cert+", "app- cert-"}
	for i, d := range deltas {
		if i > 0 && d.FromVersion != deltas[i-1].ToVersion {
			t.Fatalf("delta %d starts at %d, previous ends at %d", i, d.FromVersion, deltas[i-1].ToVersion)
		}
		if got := summary(d); got != want[i] {
			t.Errorf("delta %d: %s, want %s", i, got, want[i])
		}
	}
}

func summary(d *syncv1.Delta) string {
	s := ""
	add := func(cond bool, w string) {
		if cond {
			if s != "" {
				s += " "
			}
			s += w
		}
	}
	add(hasKind(d.Upserts, "app"), "app+")
	add(len(deletesOf(d, "app")) > 0, "app-")
	add(hasKind(d.Upserts, certsvc.KindCertificate), "cert+")
	add(len(deletesOf(d, certsvc.KindCertificate)) > 0, "cert-")
	return s
}

func hasKind(rs []*syncv1.Resource, kind string) bool {
	return slices.ContainsFunc(rs, func(r *syncv1.Resource) bool { return r.Kind == kind })
}

func deletesOf(d *syncv1.Delta, kind string) []string {
	var out []string
	for _, r := range d.Deletes {
		if r.Kind == kind {
			out = append(out, r.Id)
		}
	}
	return out
}
