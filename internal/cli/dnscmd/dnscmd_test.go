package dnscmd

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx/clitest"
	dnssvc "github.com/strata-edge/strata/services/dns"
)

type factory struct {
	clitest.Env
	c dnsv1connect.DnsServiceClient
}

func (f *factory) DNSClient() (dnsv1connect.DnsServiceClient, error) { return f.c, nil }

func newFactory(t *testing.T) *factory {
	t.Helper()
	store, _ := clitest.Store(t)
	svc, err := dnssvc.New(dnssvc.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	srv := clitest.Serve(t, svc)
	return &factory{c: dnsv1connect.NewDnsServiceClient(srv.Client(), srv.URL)}
}

// run executes `strata <args>` and returns its output.
func (f *factory) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return f.Run(Commands(f), args...)
}

// A staging zone release shows as such and live on staging nodes only;
// promote makes it live on stable nodes; a second promote is refused.
func TestDNSStagingReleaseAndPromote(t *testing.T) {
	f := newFactory(t)
	must := func(args ...string) string {
		t.Helper()
		out, err := f.run(t, args...)
		if err != nil {
			t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(out)
	}
	must("dns", "zone", "create", "example.com")
	must("dns", "record", "add", "--zone", "example.com", "www", "A", "192.0.2.1")
	must("dns", "release", "create", "--zone", "example.com")
	must("dns", "record", "add", "--zone", "example.com", "mail", "A", "192.0.2.25")
	if got := must("dns", "release", "create", "--zone", "example.com", "--staging", "--note", "try"); got != "2" {
		t.Fatalf("staging release printed %q", got)
	}
	list := must("dns", "release", "list", "--zone", "example.com")
	if !regexp.MustCompile(`(?m)^2\s.*\syes\s+staging\s`).MatchString(list) || !regexp.MustCompile(`(?m)^1\s.*\sno\s+stable\s`).MatchString(list) {
		t.Fatalf("release list after a staging release:\n%s", list)
	}
	if _, err := f.run(t, "dns", "release", "create", "--zone", "example.com"); err == nil || !strings.Contains(err.Error(), "strata dns release promote --zone") {
		t.Fatalf("stable release of the staged content: %v", err)
	}
	if got := must("dns", "release", "promote", "--zone", "example.com"); got != "2" {
		t.Fatalf("promote printed %q", got)
	}
	if list := must("dns", "release", "list", "--zone", "example.com"); !regexp.MustCompile(`(?m)^2\s.*\spromoted .*\sstable\+staging\s`).MatchString(list) {
		t.Fatalf("release list after promote:\n%s", list)
	}
	if _, err := f.run(t, "dns", "release", "promote", "--zone", "example.com"); err == nil || !strings.Contains(err.Error(), "nothing to promote") {
		t.Fatalf("second promote: %v", err)
	}
	if got := must("dns", "release", "revert", "--zone", "example.com", "--to", "1"); got != "3" {
		t.Fatalf("revert --to printed %q", got)
	}
}

func TestDNSCommands(t *testing.T) {
	f := newFactory(t)
	must := func(args ...string) string {
		t.Helper()
		out, err := f.run(t, args...)
		if err != nil {
			t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	id := strings.TrimSpace(must("dns", "zone", "create", "example.com", "--ns", "ns1.example.com"))
	if !strings.HasPrefix(id, "zone_") {
		t.Fatalf("create printed %q", id)
	}
	must("dns", "record", "add", "--zone", "example.com", "www", "A", "192.0.2.1")
	must("dns", "record", "add", "--zone", "example.com", "@", "MX", "10", "mail", "--ttl", "60")
	must("dns", "record", "add", "--zone", "example.com", "geo", "A", "198.51.100.7", "--continent", "EU", "--cidr", "10.0.0.0/8")
	if _, err := f.run(t, "dns", "record", "add", "--zone", "example.com", "www", "CNAME", "x.example.org."); err == nil || !strings.Contains(err.Error(), "CNAME") {
		t.Fatalf("CNAME beside A accepted: %v", err)
	}
	out := must("dns", "record", "list", "--zone", "example.com")
	for _, want := range []string{"www", "10 mail.example.com.", "continent=EU cidr=10.0.0.0/8", "60"} {
		if !strings.Contains(out, want) {
			t.Errorf("record list lacks %q:\n%s", want, out)
		}
	}
	if got := strings.TrimSpace(must("dns", "release", "create", "--zone", id, "--note", "first")); got != "1" {
		t.Fatalf("release printed %q", got)
	}
	file := filepath.Join(t.TempDir(), "z.zone")
	os.WriteFile(file, []byte("www IN A 192.0.2.99\n"), 0o600)
	must("dns", "zone", "import", "--zone", "example.com", file)
	f.In = strings.NewReader("www IN A 192.0.2.1\nwww IN CNAME x\n")
	if _, err := f.run(t, "dns", "zone", "import", "--zone", "example.com", "-"); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad import from stdin: %v", err)
	}
	must("dns", "release", "create", "--zone", "example.com")
	if got := strings.TrimSpace(must("dns", "release", "revert", "--zone", "example.com", "1")); got != "3" {
		t.Fatalf("revert printed %q", got)
	}
	out = must("dns", "zone", "export", "--zone", "example.com", "--released")
	if !strings.Contains(out, "192.0.2.1") || strings.Contains(out, "192.0.2.99") {
		t.Fatalf("export after revert:\n%s", out)
	}
	out = must("dns", "release", "list", "--zone", "example.com")
	if !strings.Contains(out, "revert") || !strings.Contains(out, "release 1") {
		t.Fatalf("release list:\n%s", out)
	}
	if out := must("dns", "zone", "list"); !strings.Contains(out, "example.com.") {
		t.Fatalf("zone list:\n%s", out)
	}
	recs := must("dns", "record", "list", "--zone", "example.com", "--name", "www")
	rid := strings.Fields(strings.Split(recs, "\n")[1])[0]
	must("dns", "record", "rm", "--zone", "example.com", rid)
	if out := must("dns", "zone", "diff", "--zone", "example.com"); !strings.Contains(out, "-www") {
		t.Fatalf("diff after rm:\n%s", out)
	}
}

// TestDNSJSONGolden: every dns command's -o json output, pinned in
// testdata/json (refresh with -update).
func TestDNSJSONGolden(t *testing.T) {
	f := newFactory(t)
	cmds := func() []*cobra.Command { return Commands(f) }
	file := filepath.Join(t.TempDir(), "z.zone")
	if err := os.WriteFile(file, []byte("api IN A 192.0.2.99\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "dns-zone-create", Args: []string{"dns", "zone", "create", "example.com", "--ns", "ns1.example.com"}},
		{Name: "dns-record-add", Args: []string{"dns", "record", "add", "--zone", "example.com", "www", "A", "192.0.2.1"}},
		{Name: "dns-record-add-mx", Args: []string{"dns", "record", "add", "--zone", "example.com", "@", "MX", "10", "mail", "--ttl", "60"}},
		{Name: "dns-record-add-geo", Args: []string{"dns", "record", "add", "--zone", "example.com", "geo", "A", "198.51.100.7", "--continent", "EU", "--cidr", "10.0.0.0/8"}},
		{Name: "dns-record-list", Args: []string{"dns", "record", "list", "--zone", "example.com"}},
		{Name: "dns-zone-diff", Args: []string{"dns", "zone", "diff", "--zone", "example.com"}},
		{Name: "dns-release-create", Args: []string{"dns", "release", "create", "--zone", "example.com", "--note", "first"}},
		{Name: "dns-zone-import", Args: []string{"dns", "zone", "import", "--zone", "example.com", file}},
		{Name: "dns-release-create-2", Args: []string{"dns", "release", "create", "--zone", "example.com"}},
		{Name: "dns-release-revert", Args: []string{"dns", "release", "revert", "--zone", "example.com", "1"}},
		{Name: "dns-release-list", Args: []string{"dns", "release", "list", "--zone", "example.com"}},
		{Name: "dns-zone-export", Args: []string{"dns", "zone", "export", "--zone", "example.com", "--released"}},
		{Name: "dns-zone-list", Args: []string{"dns", "zone", "list"}},
	})
	list := &dnsv1.ListRecordsResponse{}
	f.AsJSON = true
	out, err := f.run(t, "dns", "record", "list", "--zone", "example.com", "--name", "www")
	if err != nil || protojson.Unmarshal([]byte(out), list) != nil || len(list.GetRecords()) != 1 {
		t.Fatalf("record list --name www: %v\n%s", err, out)
	}
	f.GoldenSteps(t, cmds, []clitest.Step{
		{Name: "dns-record-update", Args: []string{"dns", "record", "update", "--zone", "example.com", list.GetRecords()[0].GetId(), "--data", "192.0.2.9", "--ttl", "60", "--disabled"}},
		{Name: "dns-record-rm", Args: []string{"dns", "record", "rm", "--zone", "example.com", list.GetRecords()[0].GetId()}},
		{Name: "dns-zone-update", Args: []string{"dns", "zone", "update", "example.com", "--ns", "ns1.example.com", "--ns", "ns2.example.com"}},
		{Name: "dns-zone-get", Args: []string{"dns", "zone", "get", "example.com"}},
		{Name: "dns-zone-delete", Args: []string{"dns", "zone", "delete", "example.com"}},
	})
}

// zone update changes only the settings it is given: the name servers here,
// the partitions and SOA as they were; without a flag it refuses.
func TestZoneUpdateKeepsWhatIsNotGiven(t *testing.T) {
	f := newFactory(t)
	if _, err := f.run(t, "dns", "zone", "create", "example.org", "--ns", "ns1.example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(t, "dns", "zone", "update", "example.org"); err == nil || !strings.Contains(err.Error(), "--partition or --ns") {
		t.Fatalf("update without flags: %v", err)
	}
	before := &dnsv1.GetZoneResponse{}
	f.AsJSON = true
	out, err := f.run(t, "dns", "zone", "get", "example.org")
	if err != nil || protojson.Unmarshal([]byte(out), before) != nil {
		t.Fatalf("zone get: %v\n%s", err, out)
	}
	f.AsJSON = false
	if _, err := f.run(t, "dns", "zone", "update", "example.org", "--ns", "ns2.example.org"); err != nil {
		t.Fatal(err)
	}
	after := &dnsv1.GetZoneResponse{}
	f.AsJSON = true
	out, _ = f.run(t, "dns", "zone", "get", "example.org")
	if err := protojson.Unmarshal([]byte(out), after); err != nil {
		t.Fatal(err)
	}
	z, was := after.GetZone(), before.GetZone()
	if !slices.Equal(z.GetNameservers(), []string{"ns2.example.org."}) || !slices.Equal(z.GetPartitionIds(), was.GetPartitionIds()) || after.GetPendingChanges() != before.GetPendingChanges()+1 {
		t.Fatalf("after update: ns %v partitions %v (were %v), pending %d (was %d)", z.GetNameservers(), z.GetPartitionIds(), was.GetPartitionIds(), after.GetPendingChanges(), before.GetPendingChanges())
	}
}

// record update changes only what it is given and keeps the rest; a geo
// match is replaced by the match flags or dropped by --no-match.
func TestRecordUpdateKeepsWhatIsNotGiven(t *testing.T) {
	f := newFactory(t)
	if _, err := f.run(t, "dns", "zone", "create", "example.net", "--ns", "ns1.example.net"); err != nil {
		t.Fatal(err)
	}
	out, err := f.run(t, "dns", "record", "add", "--zone", "example.net", "www", "A", "192.0.2.1", "--ttl", "120", "--continent", "EU")
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	get := func() *dnsv1.Record {
		t.Helper()
		f.AsJSON = true
		defer func() { f.AsJSON = false }()
		out, err := f.run(t, "dns", "record", "list", "--zone", "example.net")
		list := &dnsv1.ListRecordsResponse{}
		if err != nil || protojson.Unmarshal([]byte(out), list) != nil || len(list.GetRecords()) != 1 {
			t.Fatalf("record list: %v\n%s", err, out)
		}
		return list.GetRecords()[0]
	}
	if _, err := f.run(t, "dns", "record", "update", "--zone", "example.net", id, "--data", "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if r := get(); r.GetData() != "192.0.2.2" || r.GetTtl() != 120 || !slices.Equal(r.GetMatch().GetContinents(), []string{"EU"}) || r.GetDisabled() {
		t.Fatalf("after --data: %v", r)
	}
	if _, err := f.run(t, "dns", "record", "update", "--zone", "example.net", id, "--no-match", "--disabled"); err != nil {
		t.Fatal(err)
	}
	if r := get(); r.GetMatch() != nil || !r.GetDisabled() || r.GetData() != "192.0.2.2" {
		t.Fatalf("after --no-match --disabled: %v", r)
	}
	if _, err := f.run(t, "dns", "record", "update", "--zone", "example.net", "rec_nope"); err == nil || !strings.Contains(err.Error(), "RECORD_ID") {
		t.Fatalf("unknown record: %v", err)
	}
	if _, err := f.run(t, "dns", "record", "update", "--zone", "example.net", id, "--data", "not-an-ip"); err == nil || !strings.Contains(err.Error(), "not valid A data") {
		t.Fatalf("bad data: %v", err)
	}
}

// A GSLB record is added with --gslb CLUSTER[=WEIGHT], listed as
// gslb:..., and turned back into a one-cluster gateway with --gateway.
func TestDNSGSLBRecord(t *testing.T) {
	f := newFactory(t)
	must := func(args ...string) string {
		t.Helper()
		out, err := f.run(t, args...)
		if err != nil {
			t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(out)
	}
	must("dns", "zone", "create", "example.com")
	id := must("dns", "record", "add", "--zone", "example.com", "www", "A", "--gslb", "fra=3", "--gslb", "nyc")
	if list := must("dns", "record", "list", "--zone", "example.com"); !strings.Contains(list, "gslb:fra=3,nyc=1") {
		t.Fatalf("record list:\n%s", list)
	}
	for _, bad := range []struct{ arg, want string }{
		{"fra=0", "whole number from 1 to 1000"},
		{"=2", "want CLUSTER"},
		{"fra=2000", "gateway_targets[0].weight"},
	} {
		if _, err := f.run(t, "dns", "record", "add", "--zone", "example.com", "api", "A", "--gslb", bad.arg); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--gslb %s: %v, want %q", bad.arg, err, bad.want)
		}
	}
	must("dns", "record", "update", "--zone", "example.com", id, "--gateway", "fra")
	if list := must("dns", "record", "list", "--zone", "example.com"); !strings.Contains(list, "gateway:fra") || strings.Contains(list, "gslb:") {
		t.Fatalf("record list after --gateway:\n%s", list)
	}
	must("dns", "record", "update", "--zone", "example.com", id, "--gslb", "fra", "--gslb", "nyc=2")
	if list := must("dns", "record", "list", "--zone", "example.com"); !strings.Contains(list, "gslb:fra=1,nyc=2") {
		t.Fatalf("record list after --gslb:\n%s", list)
	}
}
