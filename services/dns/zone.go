package dns

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/dns/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/ids"
	"github.com/strata-edge/strata/pkg/release"
)

const prefixRecord = "rec_"

// Zone is the DNS app aggregate: its release state (pkg/release: working
// copy, pending changes, the releases staging and stable nodes run).
// Commands validate and return events; state changes only in Apply.
type Zone struct {
	id      string
	version uint64 // global position of the newest event
	exists  bool
	rel     release.State[*dnsv1.Zone]
}

// zoneKind is the release core's view of zones: equal content ignores the
// release number (the SOA serial).
var zoneKind = release.Kind[*dnsv1.Zone]{Name: "zone", Promote: "strata dns release promote --zone",
	Same: release.SameExcept[*dnsv1.Zone]("release")}

// NewZone returns the empty aggregate for id (rehydrate with Apply).
func NewZone(id string) *Zone { return &Zone{id: id} }

func (z *Zone) ID() string            { return z.id }
func (z *Zone) Version() uint64       { return z.version }
func (z *Zone) Exists() bool          { return z.exists }
func (z *Zone) Deleted() bool         { return z.rel.WorkingDeleted }
func (z *Zone) Pending() int          { return z.rel.Pending() }
func (z *Zone) LatestRelease() uint64 { return z.rel.Latest() }

// Releases is the zone's release state (release.Aggregate).
func (z *Zone) Releases() *release.State[*dnsv1.Zone] { return &z.rel }

// Working returns the working copy (shared; do not modify).
func (z *Zone) Working() *dnsv1.Zone { return z.rel.Working }

// Released returns the newest released content, what staging nodes serve;
// nil before the first release or when the newest release removed the zone.
func (z *Zone) Released() *dnsv1.Zone { return z.rel.Newest() }

// Stable returns what stable nodes serve (nil: nothing).
func (z *Zone) Stable() *dnsv1.Zone { return z.rel.Stable() }

// StableRelease and StagingRelease are the numbers of the releases stable
// and staging nodes serve (0: none).
func (z *Zone) StableRelease() uint64  { return z.rel.StableNumber() }
func (z *Zone) StagingRelease() uint64 { return z.rel.Latest() }

// Settings are the zone's own fields; partitions are already resolved ids.
type Settings struct {
	Name        string
	Partitions  []string
	Nameservers []string
	Soa         *dnsv1.Soa
	Labels      map[string]string
}

func (s Settings) validate() (*ev.ZoneSettings, error) {
	var vs []apierr.FieldViolation
	origin, err := canonicalOrigin(s.Name)
	if err != nil {
		vs = append(vs, apierr.FieldViolation{Field: "name", Reason: err.Error()})
	}
	if len(s.Partitions) == 0 {
		vs = append(vs, apierr.FieldViolation{Field: "partitions", Reason: "at least one partition is required"})
	}
	ns := make([]string, 0, len(s.Nameservers))
	for i, n := range s.Nameservers {
		if err := checkName(n); err != nil {
			vs = append(vs, apierr.FieldViolation{Field: fmt.Sprintf("nameservers[%d]", i), Reason: err.Error()})
			continue
		}
		ns = append(ns, strings.ToLower(strings.TrimSuffix(n, "."))+".")
	}
	if s.Soa.GetMname() != "" {
		if err := checkName(s.Soa.GetMname()); err != nil {
			vs = append(vs, apierr.FieldViolation{Field: "soa.mname", Reason: err.Error()})
		}
	}
	if s.Soa.GetRname() != "" {
		if err := checkName(s.Soa.GetRname()); err != nil {
			vs = append(vs, apierr.FieldViolation{Field: "soa.rname", Reason: err.Error()})
		}
	}
	if len(vs) > 0 {
		return nil, apierr.Invalid(vs...)
	}
	return &ev.ZoneSettings{Name: origin, PartitionIds: s.Partitions, Soa: s.Soa, Nameservers: ns, Labels: s.Labels}, nil
}

// Create is the first command of a zone.
func (z *Zone) Create(s Settings) ([]proto.Message, error) {
	if z.exists {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("zone %s already exists", z.id))
	}
	set, err := s.validate()
	if err != nil {
		return nil, err
	}
	return []proto.Message{&ev.ZoneCreated{ZoneId: z.id, Settings: set}}, nil
}

// Update replaces the settings; the name cannot change.
func (z *Zone) Update(s Settings) ([]proto.Message, error) {
	if err := z.live(); err != nil {
		return nil, err
	}
	s.Name = z.rel.Working.GetName()
	set, err := s.validate()
	if err != nil {
		return nil, err
	}
	return []proto.Message{&ev.ZoneUpdated{ZoneId: z.id, Settings: set}}, nil
}

// Delete removes the zone from the working copy; the next release removes it
// from the nodes.
func (z *Zone) Delete() ([]proto.Message, error) {
	if err := z.live(); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.ZoneDeleted{ZoneId: z.id}}, nil
}

// AddRecord validates r against the zone and records it with a new id.
func (z *Zone) AddRecord(r *dnsv1.Record) ([]proto.Message, error) {
	if err := z.live(); err != nil {
		return nil, err
	}
	r = proto.Clone(r).(*dnsv1.Record)
	r.Id = ids.New(prefixRecord)
	clearResolved(r)
	if err := z.checkRecords(append(slices.Clone(z.rel.Working.GetRecords()), r), len(z.rel.Working.GetRecords())); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.RecordAdded{ZoneId: z.id, Record: r}}, nil
}

// UpdateRecord replaces the record with r's id.
func (z *Zone) UpdateRecord(r *dnsv1.Record) ([]proto.Message, error) {
	if err := z.live(); err != nil {
		return nil, err
	}
	i := z.findRecord(r.GetId())
	if i < 0 {
		return nil, apierr.NotFound("record", r.GetId())
	}
	r = proto.Clone(r).(*dnsv1.Record)
	clearResolved(r)
	recs := slices.Clone(z.rel.Working.GetRecords())
	recs[i] = r
	if err := z.checkRecords(recs, i); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.RecordUpdated{ZoneId: z.id, Record: r}}, nil
}

// RemoveRecord removes one record.
func (z *Zone) RemoveRecord(id string) ([]proto.Message, error) {
	if err := z.live(); err != nil {
		return nil, err
	}
	if z.findRecord(id) < 0 {
		return nil, apierr.NotFound("record", id)
	}
	return []proto.Message{&ev.RecordRemoved{ZoneId: z.id, RecordId: id}}, nil
}

// Import replaces the SOA, name servers and records with a zone file's.
func (z *Zone) Import(text string) ([]proto.Message, error) {
	if err := z.live(); err != nil {
		return nil, err
	}
	if len(text) > maxZoneFileBytes {
		// Before parsing: a large file costs seconds of CPU to refuse later.
		return nil, apierr.Invalid(apierr.FieldViolation{Field: "zone_file", Reason: fmt.Sprintf(
			"is %d bytes, more than the limit of %d bytes per zone file", len(text), maxZoneFileBytes)})
	}
	im, err := ParseZoneFile(z.rel.Working.GetName(), text)
	if err != nil {
		return nil, err
	}
	for _, r := range im.Records {
		r.Id = ids.New(prefixRecord)
	}
	if err := checkRecordsSize("zone_file", im.Records); err != nil {
		return nil, err
	}
	w := z.rel.Working
	set := &ev.ZoneSettings{Name: w.GetName(), PartitionIds: w.GetPartitionIds(), Soa: im.Soa, Nameservers: im.Nameservers, Labels: w.GetLabels()}
	if set.Soa == nil {
		set.Soa = w.GetSoa()
	}
	if len(set.Nameservers) == 0 {
		set.Nameservers = w.GetNameservers()
	}
	return []proto.Message{&ev.ZoneImported{ZoneId: z.id, Settings: set, Records: im.Records}}, nil
}

// Release publishes the pending changes; a staging release reaches only
// the staging nodes.
func (z *Zone) Release(note string, staging bool) ([]proto.Message, error) {
	if !z.exists {
		return nil, apierr.NotFound("zone", z.id)
	}
	if err := zoneKind.CheckRelease(z.id, &z.rel, staging); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.ZoneReleased{ZoneId: z.id, Note: note, Staging: staging}}, nil
}

// Promote makes the newest release, a staging release, live on stable nodes.
func (z *Zone) Promote(note string) ([]proto.Message, error) {
	if !z.exists {
		return nil, apierr.NotFound("zone", z.id)
	}
	if err := zoneKind.CheckPromote(z.id, &z.rel); err != nil {
		return nil, err
	}
	return []proto.Message{&ev.ZonePromoted{ZoneId: z.id, Note: note, Release: z.rel.Latest()}}, nil
}

// Revert releases the content of release to, replayed from history (the
// zone's events, oldest first), as a new release on every node; the working
// copy becomes that content too.
func (z *Zone) Revert(to uint64, note string, history []proto.Message) ([]proto.Message, error) {
	if !z.exists {
		return nil, apierr.NotFound("zone", z.id)
	}
	if err := zoneKind.CheckTarget(z.id, &z.rel, to); err != nil {
		return nil, err
	}
	content, deleted, err := release.At(NewZone(z.id), history, to)
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", z.id, err)
	}
	if deleted {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("release %d removed zone %s; create it again instead", to, z.id))
	}
	if zoneKind.Unchanged(&z.rel, content, false) {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("nothing to release: release %d of zone %s has the content of release %d, which every node serves", to, z.id, z.rel.Latest()))
	}
	return []proto.Message{&ev.ZoneReverted{ZoneId: z.id, ToRelease: to, Note: note, Settings: settingsOf(content), Records: content.GetRecords()}}, nil
}

func (z *Zone) live() error {
	if !z.exists || z.rel.WorkingDeleted {
		return apierr.NotFound("zone", z.id)
	}
	return nil
}

func (z *Zone) findRecord(id string) int {
	for i, r := range z.rel.Working.GetRecords() {
		if r.GetId() == id {
			return i
		}
	}
	return -1
}

// checkRecords validates recs as the zone's records; changed is the index of
// the record the command touches (its errors are "record.<field>").
// The changed record's data is normalized (fully qualified names).
func (z *Zone) checkRecords(recs []*dnsv1.Record, changed int) error {
	if err := checkRecordsSize("record", recs); err != nil {
		return err
	}
	origin := z.rel.Working.GetName()
	var vs []apierr.FieldViolation
	ps := make([]parsed, len(recs))
	where := func(i int) string {
		if i == changed {
			return "record"
		}
		return fmt.Sprintf("record %s (%s %s)", recs[i].GetId(), recs[i].GetName(), strings.TrimPrefix(recs[i].GetType().String(), "RECORD_TYPE_"))
	}
	for i, r := range recs {
		p, rvs := checkRecord(origin, r, where(i))
		ps[i] = p
		if i == changed {
			vs = append(vs, rvs...)
			if len(rvs) == 0 {
				normalizeData(p)
			}
		}
	}
	for _, v := range checkZone(origin, ps, where) {
		// Only what concerns the changed record: a conflict it makes is
		// reported on it once (not again on the other record), and
		// conflicts between other records are not its caller's error.
		if v.Field == "record" {
			vs = append(vs, v)
		}
	}
	if len(vs) > 0 {
		sortViolations(vs)
		return apierr.Invalid(vs...)
	}
	return nil
}

func settingsOf(z *dnsv1.Zone) *ev.ZoneSettings {
	return &ev.ZoneSettings{Name: z.GetName(), PartitionIds: z.GetPartitionIds(), Soa: z.GetSoa(), Nameservers: z.GetNameservers(), Labels: z.GetLabels()}
}

func (z *Zone) setSettings(s *ev.ZoneSettings) {
	w := proto.Clone(z.rel.Working).(*dnsv1.Zone)
	w.Name, w.PartitionIds, w.Soa, w.Nameservers, w.Labels = s.GetName(), s.GetPartitionIds(), s.GetSoa(), s.GetNameservers(), s.GetLabels()
	z.rel.Working = w
}

// edit replaces the working copy with a changed copy: contents handed out
// (releases, snapshots) are never mutated.
func (z *Zone) edit(f func(w *dnsv1.Zone)) {
	w := proto.Clone(z.rel.Working).(*dnsv1.Zone)
	f(w)
	z.rel.Working = w
}

// Apply folds one event (at global position pos) into the state.
func (z *Zone) Apply(pos uint64, msg proto.Message) {
	z.version = pos
	if z.rel.Working == nil {
		z.rel.Working = &dnsv1.Zone{Id: z.id}
	}
	switch m := msg.(type) {
	case *ev.ZoneCreated:
		z.exists, z.rel.WorkingDeleted = true, false
		z.setSettings(m.GetSettings())
	case *ev.ZoneUpdated:
		z.setSettings(m.GetSettings())
	case *ev.ZoneDeleted:
		z.rel.WorkingDeleted = true
	case *ev.RecordAdded:
		z.edit(func(w *dnsv1.Zone) { w.Records = append(w.Records, m.GetRecord()) })
	case *ev.RecordUpdated:
		z.edit(func(w *dnsv1.Zone) {
			for i, r := range w.Records {
				if r.GetId() == m.GetRecord().GetId() {
					w.Records[i] = m.GetRecord()
				}
			}
		})
	case *ev.RecordRemoved:
		z.edit(func(w *dnsv1.Zone) {
			w.Records = slices.DeleteFunc(w.Records, func(r *dnsv1.Record) bool { return r.GetId() == m.GetRecordId() })
		})
	case *ev.ZoneImported:
		z.setSettings(m.GetSettings())
		z.edit(func(w *dnsv1.Zone) { w.Records = m.GetRecords() })
	case *ev.ZoneReleased:
		n := z.rel.Latest() + 1
		z.rel.Released(n, z.numbered(n), z.rel.WorkingDeleted, m.GetStaging())
		return
	case *ev.ZonePromoted:
		z.rel.Promoted()
		return
	case *ev.ZoneReverted:
		z.rel.WorkingDeleted = false
		z.setSettings(m.GetSettings())
		z.edit(func(w *dnsv1.Zone) { w.Records = m.GetRecords() })
		n := z.rel.Latest() + 1
		z.rel.Reverted(n, z.numbered(n), false, z.rel.Working)
		return
	default:
		return
	}
	z.rel.Changed()
}

// numbered is the working copy as release n (nil when it is deleted).
func (z *Zone) numbered(n uint64) *dnsv1.Zone {
	if z.rel.WorkingDeleted {
		return nil
	}
	r := proto.Clone(z.rel.Working).(*dnsv1.Zone)
	r.Release = n
	return r
}

// clearResolved drops what only snapshots carry (resolved addresses and
// locations) from a record given by a client.
func clearResolved(r *dnsv1.Record) {
	r.GatewayAddresses = nil
	for i, gt := range r.GatewayTargets {
		r.GatewayTargets[i] = &dnsv1.GatewayTarget{Cluster: strings.TrimSpace(gt.GetCluster()), Weight: gt.GetWeight()}
	}
}
