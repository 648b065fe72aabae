package dns

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	ev "github.com/strata-edge/strata/gen/strata/events/dns/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/listfilter"
	"github.com/strata-edge/strata/pkg/release"
)

// handler implements the DnsService RPCs on the Service.
type handler struct{ s *Service }

func (h *handler) fail(err error) error { return apierr.ToConnectLog(h.s.log, err) }

// read runs f on zone ref under the read lock, after catching up with the log.
func (h *handler) read(ctx context.Context, ref string, f func(e *zoneEntry)) error {
	if err := h.s.catchUp(ctx); err != nil {
		return h.fail(err)
	}
	var e *zoneEntry
	h.s.proj.Read(func(st *state) {
		if e = st.lookup(ref); e != nil {
			f(e)
		}
	})
	if e == nil {
		return h.fail(apierr.NotFound("zone", ref))
	}
	return nil
}

func (h *handler) CreateZone(ctx context.Context, req *dnsv1.CreateZoneRequest) (*dnsv1.CreateZoneResponse, error) {
	z, v, err := h.s.create(ctx, Settings{Name: req.GetName(), Partitions: req.GetPartitions(), Nameservers: req.GetNameservers(), Soa: req.GetSoa(), Labels: req.GetLabels()})
	return apierr.Reply(h.s.log, &dnsv1.CreateZoneResponse{Zone: z, Version: v}, err)
}

func (h *handler) GetZone(ctx context.Context, req *dnsv1.GetZoneRequest) (*dnsv1.GetZoneResponse, error) {
	var out *dnsv1.GetZoneResponse
	err := h.read(ctx, req.GetZone(), func(e *zoneEntry) {
		out = &dnsv1.GetZoneResponse{Zone: e.agg.Working(), Released: e.agg.Released(), Version: e.agg.Version(),
			LatestRelease: e.agg.LatestRelease(), PendingChanges: uint32(e.agg.Pending())}
	})
	return out, err
}

func (h *handler) ListZones(ctx context.Context, req *dnsv1.ListZonesRequest) (*dnsv1.ListZonesResponse, error) {
	if err := h.s.catchUp(ctx); err != nil {
		return nil, h.fail(err)
	}
	out := &dnsv1.ListZonesResponse{}
	h.s.proj.Read(func(st *state) {
		for _, e := range st.zones {
			a := e.agg
			if !a.Exists() || (a.Deleted() && a.Released() == nil && a.Stable() == nil) {
				continue
			}
			w := a.Working()
			out.Zones = append(out.Zones, &dnsv1.ZoneSummary{Id: a.ID(), Name: w.GetName(), PartitionIds: w.GetPartitionIds(),
				Records: uint32(len(w.GetRecords())), LatestRelease: a.LatestRelease(), PendingChanges: uint32(a.Pending()),
				Version: a.Version(), Deleted: a.Deleted()})
		}
	})
	slices.SortFunc(out.Zones, func(a, b *dnsv1.ZoneSummary) int { return strings.Compare(zoneKey(a), zoneKey(b)) })
	var err error
	out.Zones, out.NextPageToken, err = listfilter.Paged(zoneSchema, listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter}, out.Zones, zoneKey)
	return apierr.Reply(h.s.log, out, err)
}

func (h *handler) UpdateZone(ctx context.Context, req *dnsv1.UpdateZoneRequest) (*dnsv1.UpdateZoneResponse, error) {
	parts, err := h.s.resolvePartitions(req.GetPartitions())
	if err != nil {
		return nil, h.fail(err)
	}
	id, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) {
		return z.Update(Settings{Partitions: parts, Nameservers: req.GetNameservers(), Soa: req.GetSoa(), Labels: req.GetLabels()})
	})
	return apierr.Reply(h.s.log, &dnsv1.UpdateZoneResponse{Zone: h.working(id), Version: v}, err)
}

func (h *handler) working(id string) (z *dnsv1.Zone) {
	h.s.proj.Read(func(st *state) {
		if e := st.zones[id]; e != nil {
			z = e.agg.Working()
		}
	})
	return z
}

func (h *handler) DeleteZone(ctx context.Context, req *dnsv1.DeleteZoneRequest) (*dnsv1.DeleteZoneResponse, error) {
	_, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) { return z.Delete() })
	return apierr.Reply(h.s.log, &dnsv1.DeleteZoneResponse{Version: v}, err)
}

func (h *handler) AddRecord(ctx context.Context, req *dnsv1.AddRecordRequest) (*dnsv1.AddRecordResponse, error) {
	var rec *dnsv1.Record
	_, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) {
		msgs, err := z.AddRecord(req.GetRecord())
		if err == nil {
			rec = msgs[0].(*ev.RecordAdded).GetRecord()
		}
		return msgs, err
	})
	return apierr.Reply(h.s.log, &dnsv1.AddRecordResponse{Record: rec, Version: v}, err)
}

func (h *handler) UpdateRecord(ctx context.Context, req *dnsv1.UpdateRecordRequest) (*dnsv1.UpdateRecordResponse, error) {
	var rec *dnsv1.Record
	_, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) {
		msgs, err := z.UpdateRecord(req.GetRecord())
		if err == nil {
			rec = msgs[0].(*ev.RecordUpdated).GetRecord()
		}
		return msgs, err
	})
	return apierr.Reply(h.s.log, &dnsv1.UpdateRecordResponse{Record: rec, Version: v}, err)
}

func (h *handler) RemoveRecord(ctx context.Context, req *dnsv1.RemoveRecordRequest) (*dnsv1.RemoveRecordResponse, error) {
	_, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) { return z.RemoveRecord(req.GetRecordId()) })
	return apierr.Reply(h.s.log, &dnsv1.RemoveRecordResponse{Version: v}, err)
}

func (h *handler) ListRecords(ctx context.Context, req *dnsv1.ListRecordsRequest) (*dnsv1.ListRecordsResponse, error) {
	out := &dnsv1.ListRecordsResponse{}
	err := h.read(ctx, req.GetZone(), func(e *zoneEntry) {
		out.Version = e.agg.Version()
		for _, r := range e.agg.Working().GetRecords() {
			if (req.GetName() == "" || strings.EqualFold(req.GetName(), r.GetName())) &&
				(req.GetType() == dnsv1.RecordType_RECORD_TYPE_UNSPECIFIED || req.GetType() == r.GetType()) {
				out.Records = append(out.Records, r)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	// Records page in their zone order, keyed by position: an edit between
	// two pages may shift them by the records it adds or removes.
	pos := make(map[*dnsv1.Record]int, len(out.Records))
	for i, r := range out.Records {
		pos[r] = i
	}
	scope := req.GetZone() + "\x00" + req.GetName() + "\x00" + req.GetType().String()
	out.Records, out.NextPageToken, err = listfilter.Paged(recordSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter, Scope: scope}, out.Records,
		func(r *dnsv1.Record) string { return listfilter.Asc(uint64(pos[r])) })
	return apierr.Reply(h.s.log, out, err)
}

func (h *handler) ImportZone(ctx context.Context, req *dnsv1.ImportZoneRequest) (*dnsv1.ImportZoneResponse, error) {
	var n int
	_, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) {
		msgs, err := z.Import(req.GetZoneFile())
		if err == nil {
			n = len(msgs[0].(*ev.ZoneImported).GetRecords())
		}
		return msgs, err
	})
	return apierr.Reply(h.s.log, &dnsv1.ImportZoneResponse{Records: uint32(n), Version: v}, err)
}

func (h *handler) ExportZone(ctx context.Context, req *dnsv1.ExportZoneRequest) (*dnsv1.ExportZoneResponse, error) {
	out := &dnsv1.ExportZoneResponse{}
	var missing bool
	err := h.read(ctx, req.GetZone(), func(e *zoneEntry) {
		z := e.agg.Working()
		if req.GetReleased() {
			if z = e.agg.Released(); z == nil {
				missing = true
				return
			}
		}
		out.ZoneFile = ExportZoneFile(z)
	})
	if err == nil && missing {
		return nil, h.fail(apierr.FailedPrecondition(fmt.Sprintf("zone %s has no release to export", req.GetZone())))
	}
	return out, err
}

func (h *handler) DiffZone(ctx context.Context, req *dnsv1.DiffZoneRequest) (*dnsv1.DiffZoneResponse, error) {
	out := &dnsv1.DiffZoneResponse{}
	err := h.read(ctx, req.GetZone(), func(e *zoneEntry) {
		out.Version = e.agg.Version()
		out.Changes = e.pending
		var before, after string
		if r := e.agg.Released(); r != nil {
			before = ExportZoneFile(r)
		}
		if !e.agg.Deleted() {
			after = ExportZoneFile(e.agg.Working())
		}
		out.Text = release.Diff("released", "working", withoutSOA(before), withoutSOA(after))
	})
	return out, err
}

// withoutSOA drops a zone file's SOA line: its serial is the release number,
// not a change.
func withoutSOA(zoneFile string) string {
	lines := strings.SplitAfter(zoneFile, "\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, "\tSOA\t") }), "")
}

func (h *handler) CreateRelease(ctx context.Context, req *dnsv1.CreateReleaseRequest) (*dnsv1.CreateReleaseResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) { return z.Release(req.GetNote(), req.GetStaging()) })
	return apierr.Reply(h.s.log, &dnsv1.CreateReleaseResponse{Release: h.latestRelease(id), Version: v}, err)
}

func (h *handler) PromoteRelease(ctx context.Context, req *dnsv1.PromoteReleaseRequest) (*dnsv1.PromoteReleaseResponse, error) {
	id, v, err := h.s.exec(ctx, req.GetZone(), req.ExpectedVersion, func(z *Zone) ([]proto.Message, error) { return z.Promote(req.GetNote()) })
	return apierr.Reply(h.s.log, &dnsv1.PromoteReleaseResponse{Release: h.latestRelease(id), Version: v}, err)
}

func (h *handler) latestRelease(id string) (r *dnsv1.Release) {
	h.s.proj.Read(func(st *state) {
		if e := st.zones[id]; e != nil && len(e.releases) > 0 {
			r = e.releases[len(e.releases)-1]
		}
	})
	return r
}

func (h *handler) ListReleases(ctx context.Context, req *dnsv1.ListReleasesRequest) (*dnsv1.ListReleasesResponse, error) {
	out := &dnsv1.ListReleasesResponse{}
	err := h.read(ctx, req.GetZone(), func(e *zoneEntry) {
		out.Releases, out.StableRelease, out.StagingRelease = e.releases, e.agg.StableRelease(), e.agg.StagingRelease()
	})
	if err != nil {
		return nil, err
	}
	out.Releases, out.NextPageToken, err = listfilter.Paged(releaseSchema,
		listfilter.Request{PageSize: req.PageSize, PageToken: req.PageToken, Filter: req.Filter, Scope: req.GetZone()}, out.Releases, releaseKey)
	return apierr.Reply(h.s.log, out, err)
}

func (h *handler) RevertZone(ctx context.Context, req *dnsv1.RevertZoneRequest) (*dnsv1.RevertZoneResponse, error) {
	id, v, err := h.s.execHistory(ctx, req.GetZone(), req.ExpectedVersion, true, func(z *Zone, history []proto.Message) ([]proto.Message, error) {
		return z.Revert(req.GetToRelease(), req.GetNote(), history)
	})
	return apierr.Reply(h.s.log, &dnsv1.RevertZoneResponse{Release: h.latestRelease(id), Version: v}, err)
}

var _ dnsv1connect.DnsServiceHandler = (*handler)(nil)
