package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func findPartition(name string) (*configv1.Partition, error) {
	res, err := api.config.ListPartitions(bg, &configv1.ListPartitionsRequest{})
	if err != nil {
		return nil, err
	}
	for _, p := range res.GetPartitions() {
		if p.GetName() == name || p.GetId() == name {
			return p, nil
		}
	}
	return nil, nil
}

func findCluster(name string) (*configv1.Cluster, error) {
	res, err := api.config.ListClusters(bg, &configv1.ListClustersRequest{})
	if err != nil {
		return nil, err
	}
	for _, c := range res.GetClusters() {
		if c.GetName() == name || c.GetId() == name {
			return c, nil
		}
	}
	return nil, nil
}

func TestPartition(t *testing.T) {
	acc(t)
	cfg := func(name string) string {
		return fmt.Sprintf(`resource "strata_partition" "p" { name = %q }`, name)
	}
	exists := func(name string) func(*terraform.State) error {
		return func(s *terraform.State) error {
			p, err := findPartition(name)
			if err != nil || p == nil {
				return fmt.Errorf("partition %s not in the API (%v)", name, err)
			}
			return want("partition id", p.GetId(), stAttr(s, "strata_partition.p", "id"))
		}
	}
	test(t, func(*terraform.State) error {
		for _, n := range []string{"tf-part-a", "tf-part-b", "tf-part-c"} {
			if p, _ := findPartition(n); p != nil {
				return fmt.Errorf("partition %s still exists after destroy", n)
			}
		}
		return nil
	},
		step(cfg("tf-part-a"), exists("tf-part-a")),
		step(cfg("tf-part-b"), exists("tf-part-b")),
		importStep("strata_partition.p", stateID("strata_partition.p")),
		driftStep(cfg("tf-part-b"), "strata_partition.p", func() error {
			_, err := api.config.UpdatePartition(bg, &configv1.UpdatePartitionRequest{Partition: "tf-part-b", Name: "tf-part-c"})
			return err
		}, exists("tf-part-b")),
		conflictStep(cfg("tf-part-a"), func() error {
			_, err := api.config.UpdatePartition(bg, &configv1.UpdatePartitionRequest{Partition: "tf-part-b", Name: "tf-part-c"})
			return err
		}),
	)
}

func TestCluster(t *testing.T) {
	acc(t)
	cfg := func(dnsOff bool, parents string) string {
		return fmt.Sprintf(`
resource "strata_partition" "p" { name = "tf-cl-part" }
resource "strata_cluster" "parent" {
  name         = "tf-cl-parent"
  partition_id = strata_partition.p.id
}
resource "strata_cluster" "c" {
  name               = "tf-cl-child"
  partition_id       = strata_partition.p.id
  dns_disabled       = %t
  parent_cluster_ids = [%s]
}`, dnsOff, parents)
	}
	is := func(dnsOff bool, parents int) func(*terraform.State) error {
		return func(s *terraform.State) error {
			c, err := findCluster("tf-cl-child")
			if err != nil || c == nil {
				return fmt.Errorf("cluster not in the API (%v)", err)
			}
			if err := want("dns_disabled", c.GetDnsDisabled(), dnsOff); err != nil {
				return err
			}
			if parents == 1 && (len(c.GetParentClusterIds()) != 1 || c.GetParentClusterIds()[0] != stAttr(s, "strata_cluster.parent", "id")) {
				return fmt.Errorf("parents %v, want [%s]", c.GetParentClusterIds(), stAttr(s, "strata_cluster.parent", "id"))
			}
			return want("parents", len(c.GetParentClusterIds()), parents)
		}
	}
	off := func() error {
		_, err := api.config.UpdateCluster(bg, &configv1.UpdateClusterRequest{Cluster: "tf-cl-child", DnsDisabled: proto.Bool(true)})
		return err
	}
	test(t, func(*terraform.State) error {
		if c, _ := findCluster("tf-cl-child"); c != nil {
			return fmt.Errorf("cluster still exists after destroy")
		}
		return nil
	},
		step(cfg(false, ""), is(false, 0)),
		step(cfg(true, "strata_cluster.parent.id"), is(true, 1)),
		importStep("strata_cluster.c", stateID("strata_cluster.c")),
		step(cfg(false, ""), is(false, 0)),
		driftStep(cfg(false, ""), "strata_cluster.c", off, is(false, 0)),
		conflictStep(cfg(false, "strata_cluster.parent.id"), off),
	)
}
