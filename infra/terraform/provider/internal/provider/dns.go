package provider

import (
	"context"
	"strings"

	"connectrpc.com/connect"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"google.golang.org/protobuf/proto"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
)

// Zones and records are edits of the zone's working copy, pending until a
// strata_release with zone_id releases them; writes carry the zone's version.

var zoneKind = &kind{
	name: "dns_zone",
	doc: "An authoritative DNS zone: origin, partitions, name servers, SOA and labels. Changes are pending until a strata_release " +
		"releases them; destroying it deletes the zone and, when it had been released, releases the deletion. Import by id or name.",
	newMsg: func() proto.Message { return &dnsv1.Zone{} },
	opts: fieldOpts{skip: []string{"records", "release"}, required: []string{"name"}, replace: []string{"name"},
		computed: []string{"partition_ids"}, modifiers: map[string][]planmodifier.String{"name": {sameOriginModifier{}}}, docs: map[string]string{
			"name":          "The zone's origin (example.com); a change replaces the zone.",
			"partition_ids": "Partitions (ids) whose nodes serve the zone; the partition named default when unset.",
			"nameservers":   "Host names of the zone's name servers (the apex NS set).",
		}},
	ownerOf: func(o *object) string { return "zone " + o.id },
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		z := o.msg.(*dnsv1.Zone)
		res, err := c.dns.CreateZone(ctx, &dnsv1.CreateZoneRequest{Name: z.Name, Partitions: z.PartitionIds,
			Nameservers: z.Nameservers, Soa: z.Soa, Labels: z.Labels})
		if err != nil {
			return nil, err
		}
		return &remote{msg: zoneSettings(res.GetZone()), version: res.GetVersion()}, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := getZone(ctx, c, o.id)
		if res == nil || err != nil {
			return nil, err
		}
		return &remote{msg: zoneSettings(res.GetZone()), version: res.GetVersion()}, nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		z := o.msg.(*dnsv1.Zone)
		res, err := c.dns.UpdateZone(ctx, &dnsv1.UpdateZoneRequest{Zone: o.id, ExpectedVersion: &cur.version,
			Partitions: z.PartitionIds, Nameservers: z.Nameservers, Soa: z.Soa, Labels: z.Labels})
		if err != nil {
			return nil, err
		}
		return &remote{msg: zoneSettings(res.GetZone()), version: res.GetVersion()}, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		res, err := getZone(ctx, c, o.id)
		if res == nil || err != nil {
			return err
		}
		v := res.GetVersion()
		del, err := c.dns.DeleteZone(ctx, &dnsv1.DeleteZoneRequest{Zone: o.id, ExpectedVersion: &v})
		if err != nil {
			return err
		}
		// Released even when it never was: until then the zone still holds
		// its partitions (a partition destroyed beside it is refused).
		v = del.GetVersion()
		_, err = c.dns.CreateRelease(ctx, &dnsv1.CreateReleaseRequest{Zone: o.id, ExpectedVersion: &v,
			Note: "terraform destroy: zone " + res.GetZone().GetName() + " deleted"})
		return err
	},
}

// getZone is the zone by id or name; nil when there is none or it is deleted.
func getZone(ctx context.Context, c *client, id string) (*dnsv1.GetZoneResponse, error) {
	res, err := c.dns.GetZone(ctx, &dnsv1.GetZoneRequest{Zone: id})
	if connect.CodeOf(err) == connect.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := c.dns.ListZones(ctx, &dnsv1.ListZonesRequest{})
	if err != nil {
		return nil, err
	}
	for _, s := range list.GetZones() {
		if s.GetId() == res.GetZone().GetId() && !s.GetDeleted() {
			return res, nil
		}
	}
	return nil, nil // deleted (unlisted once the deletion is released)
}

func zoneSettings(z *dnsv1.Zone) *dnsv1.Zone {
	s := proto.Clone(z).(*dnsv1.Zone)
	s.Records, s.Release = nil, 0
	return s
}

var recordKind = &kind{
	name: "dns_record",
	doc: "A record of a DNS zone (static data, or a gateway record answering with a cluster's healthy nodes). Pending until released. " +
		"Import as ZONE_ID/RECORD_ID.",
	newMsg: func() proto.Message { return &dnsv1.Record{} },
	parent: "zone_id",
	opts: fieldOpts{skip: []string{"gateway_addresses"}, required: []string{"name", "type"}, docs: map[string]string{
		"name": "Owner name relative to the zone: @ for the apex, www, *.img.",
		"data": "Record data in zone-file presentation format (192.0.2.1, \"10 mail.example.com.\"); unset for gateway records.",
		"ttl":  "Seconds; unset means the zone default (300).",
	}},
	ownerOf: func(o *object) string { return "zone " + o.parent },
	create: func(ctx context.Context, c *client, o *object) (*remote, error) {
		res, err := c.dns.AddRecord(ctx, &dnsv1.AddRecordRequest{Zone: o.parent, Record: o.msg.(*dnsv1.Record)})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetRecord(), version: res.GetVersion()}, nil
	},
	read: func(ctx context.Context, c *client, o *object) (*remote, error) {
		if z, err := getZone(ctx, c, o.parent); z == nil || err != nil {
			return nil, err
		}
		res, err := c.dns.ListRecords(ctx, &dnsv1.ListRecordsRequest{Zone: o.parent})
		if err != nil {
			return nil, err
		}
		for _, r := range res.GetRecords() {
			if r.GetId() == o.id {
				return &remote{msg: r, version: res.GetVersion()}, nil
			}
		}
		return nil, nil
	},
	update: func(ctx context.Context, c *client, o *object, cur *remote) (*remote, error) {
		r := o.msg.(*dnsv1.Record)
		r.Id = o.id
		res, err := c.dns.UpdateRecord(ctx, &dnsv1.UpdateRecordRequest{Zone: o.parent, ExpectedVersion: &cur.version, Record: r})
		if err != nil {
			return nil, err
		}
		return &remote{msg: res.GetRecord(), version: res.GetVersion()}, nil
	},
	delete: func(ctx context.Context, c *client, o *object) error {
		_, err := c.dns.RemoveRecord(ctx, &dnsv1.RemoveRecordRequest{Zone: o.parent, RecordId: o.id})
		return err
	},
}

// sameOrigin reports whether two zone origins name the same zone
// (example.com and Example.COM. do).
func sameOrigin(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// sameOriginModifier keeps the stored origin when the configured one names
// the same zone: after an import the state has Strata's "example.com." and
// the configuration "example.com", which must not replace the zone.
type sameOriginModifier struct{}

func (sameOriginModifier) Description(context.Context) string {
	return "ignores a change of case or of the trailing dot"
}

func (m sameOriginModifier) MarkdownDescription(ctx context.Context) string {
	return m.Description(ctx)
}

func (sameOriginModifier) PlanModifyString(_ context.Context, req planmodifier.StringRequest, resp *planmodifier.StringResponse) {
	if req.StateValue.IsNull() || req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if sameOrigin(req.StateValue.ValueString(), req.ConfigValue.ValueString()) {
		resp.PlanValue = req.StateValue
	}
}
