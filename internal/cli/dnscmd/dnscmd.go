// Package dnscmd is the command line of DNS apps: strata dns zone, record and
// release. The root command adds Commands(factory) to itself.
package dnscmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	dnsv1 "github.com/strata-edge/strata/gen/strata/dns/v1"
	"github.com/strata-edge/strata/gen/strata/dns/v1/dnsv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/internal/cli/releasecmd"
)

// ClientFactory is what the root command provides.
type ClientFactory interface {
	clientx.Env
	// DNSClient returns a DnsService client for --api, authenticated like
	// every other command.
	DNSClient() (dnsv1connect.DnsServiceClient, error)
}

// Commands returns the top-level "dns" command.
func Commands(f ClientFactory) []*cobra.Command {
	dns := &cobra.Command{Use: "dns", Short: "DNS apps: zones, records, releases"}
	zone := &cobra.Command{Use: "zone", Short: "Create, show, update, delete, import, export and list zones"}
	zone.AddCommand(zoneCreateCmd(f), zoneGetCmd(f), zoneUpdateCmd(f), zoneDeleteCmd(f), zoneImportCmd(f), zoneExportCmd(f), zoneListCmd(f), zoneDiffCmd(f))
	record := &cobra.Command{Use: "record", Short: "Add, list and remove records"}
	record.AddCommand(recordAddCmd(f), recordUpdateCmd(f), recordListCmd(f), recordRmCmd(f))
	release := &cobra.Command{Use: "release", Short: "Release a zone's pending changes, promote staging releases, list releases, revert"}
	release.AddCommand(releasecmd.Commands(f, zoneReleases(f))...)
	dns.AddCommand(zone, record, release)
	return []*cobra.Command{dns}
}

func call[T any](cmd *cobra.Command, f ClientFactory, fn func(context.Context, dnsv1connect.DnsServiceClient) (T, error)) (T, error) {
	return clientx.Call(cmd.Context(), f, f.DNSClient, fn)
}

// show makes one call and prints its answer (text for people, or -o json).
func show[T proto.Message](cmd *cobra.Command, f ClientFactory, fn func(context.Context, dnsv1connect.DnsServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), f, f.DNSClient, fn, text)
}

func zoneFlag(cmd *cobra.Command, zone *string) {
	cmd.Flags().StringVar(zone, "zone", "", "zone id or name (required)")
	_ = cmd.MarkFlagRequired("zone")
}

func zoneCreateCmd(f ClientFactory) *cobra.Command {
	var partitions, ns []string
	cmd := &cobra.Command{
		Use:     "create NAME [--partition P]... [--ns HOST]...",
		Short:   "Create a zone (a DNS app); prints its id",
		Example: "  strata dns zone create example.com --ns ns1.example.com --ns ns2.example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.CreateZone, &dnsv1.CreateZoneRequest{Name: a[0], Partitions: partitions, Nameservers: ns}), func(w io.Writer, res *dnsv1.CreateZoneResponse) error {
				return clientx.Line(w, "%s", res.GetZone().GetId())
			})
		},
	}
	cmd.Flags().StringArrayVar(&partitions, "partition", nil, "partition id or name (default: default)")
	cmd.Flags().StringArrayVar(&ns, "ns", nil, "name server host name (the apex NS set)")
	return cmd
}

func zoneGetCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use:   "get ZONE",
		Short: "Show a zone: settings, releases, pending changes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.GetZone, &dnsv1.GetZoneRequest{Zone: a[0]}), func(w io.Writer, res *dnsv1.GetZoneResponse) error {
				z := res.GetZone()
				return clientx.Table(w, [][]string{
					{"ID", z.GetId()}, {"NAME", z.GetName()},
					{"PARTITIONS", strings.Join(z.GetPartitionIds(), ",")},
					{"NAMESERVERS", strings.Join(z.GetNameservers(), ",")},
					{"RECORDS", strconv.Itoa(len(z.GetRecords()))},
					{"RELEASE", strconv.FormatUint(res.GetLatestRelease(), 10)},
					{"PENDING", strconv.Itoa(int(res.GetPendingChanges()))},
					{"VERSION", strconv.FormatUint(res.GetVersion(), 10)},
				})
			})
		},
	}
}

func zoneUpdateCmd(f ClientFactory) *cobra.Command {
	var partitions, ns []string
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:     "update ZONE [--partition P]... [--ns HOST]...",
		Short:   "Change a zone's partitions or name servers (pending until released); flags not given keep their value",
		Example: "  strata dns zone update example.com --ns ns1.example.com --ns ns2.example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if !cmd.Flags().Changed("partition") && !cmd.Flags().Changed("ns") {
				return fmt.Errorf("nothing to change: give --partition or --ns")
			}
			cur, err := call(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.GetZone, &dnsv1.GetZoneRequest{Zone: a[0]}))
			if err != nil {
				return err
			}
			z := cur.GetZone()
			req := &dnsv1.UpdateZoneRequest{Zone: z.GetId(), ExpectedVersion: ev.Get(cmd), Partitions: z.GetPartitionIds(),
				Nameservers: z.GetNameservers(), Soa: z.GetSoa(), Labels: z.GetLabels()}
			if cmd.Flags().Changed("partition") {
				req.Partitions = partitions
			}
			if cmd.Flags().Changed("ns") {
				req.Nameservers = ns
			}
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.UpdateZone, req), func(w io.Writer, res *dnsv1.UpdateZoneResponse) error {
				return clientx.Line(w, "updated zone %s (version %d; pending until released)", res.GetZone().GetName(), res.GetVersion())
			})
		},
	}
	cmd.Flags().StringArrayVar(&partitions, "partition", nil, "partition id or name (replaces the list)")
	cmd.Flags().StringArrayVar(&ns, "ns", nil, "name server host name (replaces the apex NS set)")
	ev.Register(cmd.Flags(), "zone")
	return cmd
}

func zoneDeleteCmd(f ClientFactory) *cobra.Command {
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:     "delete ZONE",
		Short:   "Delete a zone (nodes stop answering for it with the next release)",
		Example: "  strata dns zone delete example.com && strata dns release create --zone example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.DeleteZone, &dnsv1.DeleteZoneRequest{Zone: a[0], ExpectedVersion: ev.Get(cmd)}), func(w io.Writer, res *dnsv1.DeleteZoneResponse) error {
				return clientx.Line(w, "deleted zone %s (version %d; release to take it off the nodes)", a[0], res.GetVersion())
			})
		},
	}
	ev.Register(cmd.Flags(), "zone")
	return cmd
}

func zoneImportCmd(f ClientFactory) *cobra.Command {
	var zone string
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:     "import --zone Z FILE|-",
		Short:   "Replace a zone's records with a zone file (pending until released)",
		Example: "  strata dns zone import --zone example.com example.com.zone",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var text []byte
			var err error
			if a[0] == "-" {
				text, err = io.ReadAll(f.Stdin())
			} else {
				text, err = os.ReadFile(a[0])
			}
			if err != nil {
				return fmt.Errorf("read zone file: %w", err)
			}
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.ImportZone, &dnsv1.ImportZoneRequest{Zone: zone, ExpectedVersion: ev.Get(cmd), ZoneFile: string(text)}), func(w io.Writer, res *dnsv1.ImportZoneResponse) error {
				return clientx.Line(w, "imported %d records (pending; release with: strata dns release create --zone %s)", res.GetRecords(), zone)
			})
		},
	}
	zoneFlag(cmd, &zone)
	ev.Register(cmd.Flags(), "zone")
	return cmd
}

func zoneExportCmd(f ClientFactory) *cobra.Command {
	var zone string
	var released bool
	cmd := &cobra.Command{
		Use:   "export --zone Z [--released]",
		Short: "Print a zone as a zone file (the working copy, or the newest release)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.ExportZone, &dnsv1.ExportZoneRequest{Zone: zone, Released: released}), func(w io.Writer, res *dnsv1.ExportZoneResponse) error {
				_, err := io.WriteString(w, res.GetZoneFile())
				return err
			})
		},
	}
	zoneFlag(cmd, &zone)
	cmd.Flags().BoolVar(&released, "released", false, "export the newest release instead of the working copy")
	return cmd
}

func zoneListCmd(f ClientFactory) *cobra.Command {
	return clientx.ListCommand(&cobra.Command{
		Use:   "list",
		Short: "List zones",
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(dnsv1connect.DnsServiceClient.ListZones, &dnsv1.ListZonesRequest{}, lf), func(w io.Writer, res *dnsv1.ListZonesResponse) error {
			rows := [][]string{{"ID", "NAME", "RECORDS", "RELEASE", "PENDING", "VERSION", "PARTITIONS"}}
			for _, z := range res.GetZones() {
				name := z.GetName()
				if z.GetDeleted() {
					name += " (deleted)"
				}
				rows = append(rows, []string{z.GetId(), name, strconv.Itoa(int(z.GetRecords())), strconv.FormatUint(z.GetLatestRelease(), 10),
					strconv.Itoa(int(z.GetPendingChanges())), strconv.FormatUint(z.GetVersion(), 10), strings.Join(z.GetPartitionIds(), ",")})
			}
			return clientx.Table(w, rows)
		})
	})
}

func zoneDiffCmd(f ClientFactory) *cobra.Command {
	var zone string
	cmd := &cobra.Command{
		Use:   "diff --zone Z",
		Short: "Show what releasing the zone would change",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.DiffZone, &dnsv1.DiffZoneRequest{Zone: zone}), func(w io.Writer, res *dnsv1.DiffZoneResponse) error {
				for _, ch := range res.GetChanges() {
					fmt.Fprintf(w, "# %s  %s  %s\n", clientx.FmtTime(ch.GetTime()), clientx.OrDash(ch.GetActor()), ch.GetSummary())
				}
				return clientx.Line(w, "%s", res.GetText())
			})
		},
	}
	zoneFlag(cmd, &zone)
	return cmd
}

func recordAddCmd(f ClientFactory) *cobra.Command {
	var zone, gateway string
	var gslb []string
	var ttl uint32
	var disabled bool
	var match dnsv1.GeoMatch
	var asns []uint
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "add --zone Z NAME TYPE [DATA...]",
		Short: "Add a record (pending until released); prints its id",
		Example: `  strata dns record add --zone example.com www A 192.0.2.1
  strata dns record add --zone example.com @ MX 10 mail.example.com.
  strata dns record add --zone example.com www A 198.51.100.7 --country DE --continent EU
  strata dns record add --zone example.com @ A --gateway edge-eu
  strata dns record add --zone example.com www A --gslb fra=3 --gslb nyc=1`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			t, ok := dnsv1.RecordType_value["RECORD_TYPE_"+strings.ToUpper(a[1])]
			if !ok || t == 0 {
				return fmt.Errorf("TYPE %q: one of A, AAAA, CNAME, MX, TXT, NS, SRV, CAA, PTR", a[1])
			}
			r := &dnsv1.Record{Name: a[0], Type: dnsv1.RecordType(t), Ttl: ttl, Data: strings.Join(a[2:], " "), Disabled: disabled, GatewayCluster: gateway}
			targets, err := gslbTargets(gslb)
			if err != nil {
				return err
			}
			r.GatewayTargets = targets
			for _, n := range asns {
				match.Asns = append(match.Asns, uint32(n))
			}
			if len(match.Countries)+len(match.Continents)+len(match.Asns)+len(match.Isps)+len(match.Cidrs) > 0 {
				r.Match = &match
			}
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.AddRecord, &dnsv1.AddRecordRequest{Zone: zone, ExpectedVersion: ev.Get(cmd), Record: r}), func(w io.Writer, res *dnsv1.AddRecordResponse) error {
				return clientx.Line(w, "%s", res.GetRecord().GetId())
			})
		},
	}
	zoneFlag(cmd, &zone)
	ev.Register(cmd.Flags(), "zone")
	cmd.Flags().Uint32Var(&ttl, "ttl", 0, "TTL in seconds (default 300)")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "add the record disabled")
	cmd.Flags().StringVar(&gateway, "gateway", "", "A/AAAA: answer with the healthy online nodes of this cluster")
	cmd.Flags().StringArrayVar(&gslb, "gslb", nil, "A/AAAA, repeatable: CLUSTER[=WEIGHT]; answer with the nearest healthy of these clusters (docs/gslb.md)")
	cmd.Flags().StringArrayVar(&match.Countries, "country", nil, "answer only clients in this country (ISO code)")
	cmd.Flags().StringArrayVar(&match.Continents, "continent", nil, "answer only clients on this continent (EU, NA, ...)")
	cmd.Flags().UintSliceVar(&asns, "asn", nil, "answer only clients in this autonomous system")
	cmd.Flags().StringArrayVar(&match.Isps, "isp", nil, "answer only clients of this ASN organisation")
	cmd.Flags().StringArrayVar(&match.Cidrs, "cidr", nil, "answer only clients in this network")
	return cmd
}

func recordListCmd(f ClientFactory) *cobra.Command {
	var zone, name string
	cmd := clientx.ListCommand(&cobra.Command{
		Use:   "list --zone Z [--name N]",
		Short: "List a zone's records (the working copy)",
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(dnsv1connect.DnsServiceClient.ListRecords, &dnsv1.ListRecordsRequest{Zone: zone, Name: name}, lf), func(w io.Writer, res *dnsv1.ListRecordsResponse) error {
			rows := [][]string{{"ID", "NAME", "TTL", "TYPE", "DATA", "MATCH", "STATE"}}
			for _, r := range res.GetRecords() {
				data := r.GetData()
				if r.GetGatewayCluster() != "" {
					data = "gateway:" + r.GetGatewayCluster()
				}
				if gts := r.GetGatewayTargets(); len(gts) > 0 {
					parts := make([]string, len(gts))
					for i, gt := range gts {
						parts[i] = fmt.Sprintf("%s=%d", gt.GetCluster(), max(gt.GetWeight(), 1))
					}
					data = "gslb:" + strings.Join(parts, ",")
				}
				state := "enabled"
				if r.GetDisabled() {
					state = "disabled"
				}
				ttl := "300"
				if r.GetTtl() > 0 {
					ttl = strconv.FormatUint(uint64(r.GetTtl()), 10)
				}
				rows = append(rows, []string{r.GetId(), r.GetName(), ttl, strings.TrimPrefix(r.GetType().String(), "RECORD_TYPE_"), data, matchText(r.GetMatch()), state})
			}
			return clientx.Table(w, rows)
		})
	})
	zoneFlag(cmd, &zone)
	cmd.Flags().StringVar(&name, "name", "", "only records of this relative name")
	return cmd
}

func matchText(m *dnsv1.GeoMatch) string {
	if m == nil {
		return "-"
	}
	var parts []string
	add := func(k string, vs []string) {
		if len(vs) > 0 {
			parts = append(parts, k+"="+strings.Join(vs, ","))
		}
	}
	add("country", m.GetCountries())
	add("continent", m.GetContinents())
	var asns []string
	for _, a := range m.GetAsns() {
		asns = append(asns, strconv.FormatUint(uint64(a), 10))
	}
	add("asn", asns)
	add("isp", m.GetIsps())
	add("cidr", m.GetCidrs())
	return strings.Join(parts, " ")
}

func recordUpdateCmd(f ClientFactory) *cobra.Command {
	var zone, data, gateway string
	var gslb []string
	var ttl uint32
	var disabled, noMatch bool
	var match dnsv1.GeoMatch
	var asns []uint
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "update --zone Z RECORD_ID [--data D] [--ttl S] [--disabled=true|false] [--gateway C | --gslb C=W ...] [--country ...|--no-match]",
		Short: "Change a record (pending until released); flags not given keep their value",
		Example: `  strata dns record update --zone example.com rec_... --data 192.0.2.2 --ttl 60
  strata dns record update --zone example.com rec_... --disabled
  strata dns record update --zone example.com rec_... --continent EU --country DE`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			fl := cmd.Flags()
			list, err := call(cmd, f, clientx.Pages(dnsv1connect.DnsServiceClient.ListRecords, &dnsv1.ListRecordsRequest{Zone: zone}, nil))
			if err != nil {
				return err
			}
			i := slices.IndexFunc(list.GetRecords(), func(r *dnsv1.Record) bool { return r.GetId() == a[0] })
			if i < 0 {
				return fmt.Errorf("RECORD_ID: zone %s has no record %s (see strata dns record list --zone %s)", zone, a[0], zone)
			}
			r := list.GetRecords()[i]
			if fl.Changed("data") {
				r.Data = data
			}
			if fl.Changed("ttl") {
				r.Ttl = ttl
			}
			if fl.Changed("disabled") {
				r.Disabled = disabled
			}
			if fl.Changed("gateway") && fl.Changed("gslb") {
				return errors.New("--gateway and --gslb: give one (one cluster, or the nearest of several)")
			}
			if fl.Changed("gateway") {
				r.GatewayCluster, r.GatewayTargets = gateway, nil
			}
			if fl.Changed("gslb") {
				targets, err := gslbTargets(gslb)
				if err != nil {
					return err
				}
				r.GatewayCluster, r.GatewayTargets = "", targets
			}
			for _, n := range asns {
				match.Asns = append(match.Asns, uint32(n))
			}
			switch geo := len(match.Countries)+len(match.Continents)+len(match.Asns)+len(match.Isps)+len(match.Cidrs) > 0; {
			case geo && noMatch:
				return errors.New("--no-match: not with --country, --continent, --asn, --isp or --cidr")
			case geo:
				r.Match = &match
			case noMatch:
				r.Match = nil
			}
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.UpdateRecord, &dnsv1.UpdateRecordRequest{Zone: zone, ExpectedVersion: ev.Get(cmd), Record: r}), func(w io.Writer, res *dnsv1.UpdateRecordResponse) error {
				return clientx.Line(w, "updated %s (pending until released)", a[0])
			})
		},
	}
	zoneFlag(cmd, &zone)
	ev.Register(cmd.Flags(), "zone")
	cmd.Flags().StringVar(&data, "data", "", "new record data, as for add (e.g. \"10 mail.example.com.\")")
	cmd.Flags().Uint32Var(&ttl, "ttl", 0, "TTL in seconds")
	cmd.Flags().BoolVar(&disabled, "disabled", false, "disable (--disabled) or enable (--disabled=false) the record")
	cmd.Flags().StringVar(&gateway, "gateway", "", "A/AAAA: answer with the healthy online nodes of this cluster (\"\" stops; drops --gslb targets)")
	cmd.Flags().StringArrayVar(&gslb, "gslb", nil, "A/AAAA, repeatable: CLUSTER[=WEIGHT]; replace the GSLB targets (an empty --gslb drops them)")
	cmd.Flags().BoolVar(&noMatch, "no-match", false, "answer every client (drop the geo match)")
	cmd.Flags().StringArrayVar(&match.Countries, "country", nil, "replace the match: clients in this country (ISO code)")
	cmd.Flags().StringArrayVar(&match.Continents, "continent", nil, "replace the match: clients on this continent")
	cmd.Flags().UintSliceVar(&asns, "asn", nil, "replace the match: clients in this autonomous system")
	cmd.Flags().StringArrayVar(&match.Isps, "isp", nil, "replace the match: clients of this ASN organisation")
	cmd.Flags().StringArrayVar(&match.Cidrs, "cidr", nil, "replace the match: clients in this network")
	return cmd
}

// gslbTargets parses --gslb values, CLUSTER or CLUSTER=WEIGHT; empty
// values are skipped (an empty --gslb clears).
func gslbTargets(vals []string) ([]*dnsv1.GatewayTarget, error) {
	var out []*dnsv1.GatewayTarget
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		name, w, hasW := strings.Cut(v, "=")
		t := &dnsv1.GatewayTarget{Cluster: strings.TrimSpace(name)}
		if t.Cluster == "" {
			return nil, fmt.Errorf("--gslb %q: want CLUSTER or CLUSTER=WEIGHT", v)
		}
		if hasW {
			n, err := strconv.ParseUint(strings.TrimSpace(w), 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("--gslb %q: weight %q is not a whole number from 1 to 1000", v, w)
			}
			t.Weight = uint32(n)
		}
		out = append(out, t)
	}
	return out, nil
}

func recordRmCmd(f ClientFactory) *cobra.Command {
	var zone string
	var ev clientx.ExpectVersion
	cmd := &cobra.Command{
		Use:   "rm --zone Z RECORD_ID",
		Short: "Remove a record (pending until released)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return show(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.RemoveRecord, &dnsv1.RemoveRecordRequest{Zone: zone, ExpectedVersion: ev.Get(cmd), RecordId: a[0]}), func(w io.Writer, res *dnsv1.RemoveRecordResponse) error {
				return clientx.Line(w, "removed %s", a[0])
			})
		},
	}
	zoneFlag(cmd, &zone)
	ev.Register(cmd.Flags(), "zone")
	return cmd
}

// zoneReleases is the zones' release API for the shared release commands.
func zoneReleases(f ClientFactory) releasecmd.Kind {
	create := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.CreateRelease, &dnsv1.CreateReleaseRequest{Zone: r.ID, ExpectedVersion: r.Expected, Note: r.Note, Staging: r.Staging}))
		return res, res.GetRelease().GetNumber(), err
	}
	promote := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.PromoteRelease, &dnsv1.PromoteReleaseRequest{Zone: r.ID, ExpectedVersion: r.Expected, Note: r.Note}))
		return res, res.GetRelease().GetNumber(), err
	}
	revert := func(cmd *cobra.Command, r releasecmd.Request) (proto.Message, uint64, error) {
		res, err := call(cmd, f, clientx.RPC(dnsv1connect.DnsServiceClient.RevertZone, &dnsv1.RevertZoneRequest{Zone: r.ID, ExpectedVersion: r.Expected, ToRelease: r.To, Note: r.Note}))
		return res, res.GetRelease().GetNumber(), err
	}
	list := func(cmd *cobra.Command, id string) (proto.Message, releasecmd.List, error) {
		res, err := call(cmd, f, clientx.Pages(dnsv1connect.DnsServiceClient.ListReleases, &dnsv1.ListReleasesRequest{Zone: id}, nil))
		l := releasecmd.List{Releases: releasecmd.Records(res.GetReleases(), true), Stable: res.GetStableRelease(), Staging: res.GetStagingRelease()}
		return res, l, err
	}
	return releasecmd.Kind{Noun: "zone", Command: "strata dns release", Create: create, Promote: promote, Revert: revert, List: list}
}
