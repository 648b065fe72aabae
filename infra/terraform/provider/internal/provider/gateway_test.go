package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// A cluster that a released gateway record names is destroyed in the same
// run as the zone: Terraform deletes the two at once, and the cluster's
// delete is refused until the zone's deletion is released, so it waits for
// that instead of failing the destroy.
func TestGatewayRecordClusterDestroy(t *testing.T) {
	acc(t)
	cfg := `
resource "strata_partition" "p" { name = "tf-gw-part" }
resource "strata_cluster" "c" {
  name         = "tf-gw-cluster"
  partition_id = strata_partition.p.id
}
resource "strata_dns_zone" "z" {
  name          = "tf-gw.example"
  partition_ids = [strata_partition.p.id]
  nameservers   = ["ns1.tf-gw.example."]
}
resource "strata_dns_record" "www" {
  zone_id         = strata_dns_zone.z.id
  name            = "www"
  type            = "A"
  gateway_cluster = strata_cluster.c.name
}
resource "strata_release" "z" {
  zone_id    = strata_dns_zone.z.id
  note       = "terraform"
  depends_on = [strata_dns_record.www]
  lifecycle {
    replace_triggered_by = [strata_dns_zone.z, strata_dns_record.www]
  }
}`
	test(t, func(*terraform.State) error {
		res, err := api.config.ListClusters(bg, &configv1.ListClustersRequest{})
		if err != nil {
			return err
		}
		for _, c := range res.GetClusters() {
			if c.GetName() == "tf-gw-cluster" {
				return fmt.Errorf("cluster %s still there after destroy", c.GetId())
			}
		}
		return nil
	}, resource.TestStep{Config: cfg})
}
