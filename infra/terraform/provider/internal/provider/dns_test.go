package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/terraform"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
)

func zoneConfig(ns, ip string) string {
	return fmt.Sprintf(`
resource "strata_dns_zone" "z" {
  name        = "tf-zone.example"
  nameservers = [%q]
  soa         = { rname = "hostmaster.tf-zone.example.", refresh = 3600 }
}
resource "strata_dns_record" "www" {
  zone_id = strata_dns_zone.z.id
  name    = "www"
  type    = "A"
  ttl     = 60
  data    = %q
}
resource "strata_release" "z" {
  zone_id    = strata_dns_zone.z.id
  note       = "terraform"
  depends_on = [strata_dns_record.www]
  lifecycle {
    replace_triggered_by = [strata_dns_zone.z, strata_dns_record.www]
  }
}`, ns, ip)
}

// zoneReleased checks the released zone: name server and the record's data.
func zoneReleased(ns, ip string) func(*terraform.State) error {
	return func(*terraform.State) error {
		z, err := getZone(bg, api, "tf-zone.example")
		if err != nil || z == nil {
			return fmt.Errorf("zone not in the API (%v)", err)
		}
		r := z.GetReleased()
		if !sameContent(z.GetZone(), r) {
			return fmt.Errorf("zone has unreleased changes")
		}
		if err := want("nameservers", r.GetNameservers(), []string{ns}); err != nil {
			return err
		}
		if len(r.GetRecords()) != 1 {
			return fmt.Errorf("records %v, want one", r.GetRecords())
		}
		return want("www data", r.GetRecords()[0].GetData(), ip)
	}
}

func TestDNSZoneRecordRelease(t *testing.T) {
	acc(t)
	version := func() *uint64 { z, _ := getZone(bg, api, "tf-zone.example"); v := z.GetVersion(); return &v }
	editRecord := func(ip string) func() error {
		return func() error {
			z, _ := getZone(bg, api, "tf-zone.example")
			rec := z.GetZone().GetRecords()[0]
			rec.Data = ip
			_, err := api.dns.UpdateRecord(bg, &dnsv1.UpdateRecordRequest{Zone: z.GetZone().GetId(), ExpectedVersion: version(), Record: rec})
			return err
		}
	}
	test(t, func(*terraform.State) error {
		if z, _ := getZone(bg, api, "tf-zone.example"); z != nil {
			return fmt.Errorf("zone still there after destroy")
		}
		return nil
	},
		step(zoneConfig("ns1.example.net.", "192.0.2.1"), zoneReleased("ns1.example.net.", "192.0.2.1")),
		step(zoneConfig("ns2.example.net.", "192.0.2.2"), zoneReleased("ns2.example.net.", "192.0.2.2")),
		importStep("strata_dns_zone.z", stateID("strata_dns_zone.z"), "name"),
		importStep("strata_dns_record.www", childID("strata_dns_record.www", "zone_id")),
		importStep("strata_release.z", func(s *terraform.State) (string, error) {
			return "zone:" + stAttr(s, "strata_release.z", "zone_id"), nil
		}),
		driftStep(zoneConfig("ns2.example.net.", "192.0.2.2"), "strata_dns_record.www", editRecord("192.0.2.99"),
			zoneReleased("ns2.example.net.", "192.0.2.2")),
		conflictStep(zoneConfig("ns2.example.net.", "192.0.2.3"), editRecord("192.0.2.98")),
	)
}
