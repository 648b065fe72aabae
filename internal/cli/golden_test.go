package cli_test

import (
	"strings"
	"testing"

	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
)

// TestJSONGolden runs every config command with -o json in one scenario and
// compares each output with testdata/json/<step>.json (refresh with
// -update): one JSON convention, the proto field names (docs/cli.md,
// "Output").
func TestJSONGolden(t *testing.T) {
	s := newCLI(t, startAPI(t))
	steps := []struct {
		name string
		args string
	}{
		{"partition-create", "partition create --name eu"},
		{"partition-list", "partition list"},
		{"cluster-create", "cluster create --name fra --partition eu"},
		{"cluster-create-shield", "cluster create --name fra-shield --partition eu"},
		{"cluster-update", "cluster update fra --dns off --parents fra-shield --country de --continent EU --lat 50.1 --lon 8.7"},
		{"cluster-list", "cluster list"},
		{"node-register", "node register --name fra-1 --cluster fra"},
		{"node-staging", "node staging fra-1 --on"},
		{"node-list", "node list --cluster fra"},
		{"node-remove", "node remove fra-1"},
		{"app-create", "app create --name shop --domain shop.example.com --label team=web"},
		{"upstream-create", "upstream create --app shop --name web --server 10.0.0.1:8080 --server 10.0.0.2:8080=2 --policy weighted --health-path /healthz"},
		{"upstream-update", "upstream update --app shop --name web --read-timeout 60s"},
		{"upstream-list", "upstream list --app shop"},
		{"rule-create", "rule create --app shop --name api --when PathPrefix(\"/api\") --upstream web --last"},
		{"rule-create-cache", "rule create --app shop --when PathPrefix(\"/static\") --cache-ttl 1h --upstream web"},
		{"rule-update", "rule update --app shop --name api --when PathPrefix(\"/api/\") --upstream web"},
		{"rule-move", "rule move --app shop --name api --index 1"},
		{"rule-list", "rule list --app shop"},
		{"app-diff", "app diff shop"},
		{"release-create", "release create --app shop --note first"},
		{"app-update", "app update shop --domain shop.example.org"},
		{"upstream-update-2", "upstream update --app shop --name web --read-timeout 30s"},
		{"release-create-2", "release create --app shop"},
		{"release-revert", "release revert --app shop --to 1 --note back"},
		{"release-revert-object", "release revert-object --app shop --kind upstream --name web --to 2"},
		{"app-update-2", "app update shop --label team=ops"},
		{"release-create-staging", "release create --app shop --staging"},
		{"release-promote", "release promote --app shop"},
		{"release-list", "release list --app shop"},
		{"app-get", "app get shop"},
		{"app-list", "app list"},
		{"snapshot-get", "snapshot get --partition default"},
		{"rule-delete", "rule delete --app shop --name api"},
		{"upstream-delete", "upstream delete --app shop --name web --expect-version 0"},
		{"upstream-create-spare", "upstream create --app shop --name spare --server 10.0.0.3:8080"},
		{"upstream-delete-spare", "upstream delete --app shop --name spare"},
		{"app-delete", "app delete shop"},
		{"cluster-rename", "cluster rename fra fra-1"},
		{"cluster-delete", "cluster delete fra-1"},
		{"partition-create-us", "partition create --name us"},
		{"partition-rename", "partition rename us us-east"},
		{"partition-delete", "partition delete us-east"},
		{"app-create-stream", "app create --name echo --stream-listen tcp/9000 --stream-listen udp/9053 --stream-upstream echo --allow 10.0.0.0/8 --conn-rate 50"},
		{"upstream-create-stream", "upstream create --app echo --name echo --server 10.0.0.5:7 --health-check"},
		{"app-update-stream", "app update echo --stream-listen tcp/9001 --idle-timeout 5m"},
		{"app-diff-stream", "app diff echo"},
		{"app-create-forward", "app create --name egress --socks5-port 1080 --http-proxy-port 3128 --credential alice:s3cret --egress-allow-port 443"},
		{"app-list-roles", "app list"},
		{"endpoints-set", "upstream endpoints set k8s.east.shop.web.8080 --partition default --endpoint 10.0.0.1:8080 --endpoint 10.0.0.2:8080=2 --not-ready 10.0.0.3:8080 --label k8s_cluster=east"},
		{"endpoints-set-unchanged", "upstream endpoints set k8s.east.shop.web.8080 --partition default --endpoint 10.0.0.2:8080=2 --endpoint 10.0.0.1:8080 --not-ready 10.0.0.3:8080 --label k8s_cluster=east"},
		{"endpoints-show", "upstream endpoints show k8s.east.shop.web.8080"},
		{"endpoints-list", "upstream endpoints list --prefix k8s.east."},
		{"app-create-dynamic", "app create --name dyn --domain dyn.example.com"},
		{"upstream-create-endpoints", "upstream create --app dyn --name web --endpoints k8s.east.shop.web.8080"},
		{"upstream-list-endpoints", "upstream list --app dyn"},
		{"endpoints-delete", "upstream endpoints delete k8s.east.shop.web.8080"},
	}
	for _, st := range steps {
		args := append(strings.Fields(st.args), "-o", "json")
		out, errs, code := s.run(args...)
		if st.name == "upstream-delete" {
			// A stale --expect-version is refused: the error is not JSON.
			if code != 1 || !strings.Contains(errs, "aborted") {
				t.Fatalf("%s: exit %d, stderr %q", st.args, code, errs)
			}
			continue
		}
		if code != 0 {
			t.Fatalf("strata %s: exit %d\n%s%s", st.args, code, out, errs)
		}
		clitest.Golden(t, st.name, []byte(out))
	}
}
