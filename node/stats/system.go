package stats

import (
	"context"
	"runtime"
	"sort"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

// MaxInterfaces bounds the network interfaces of one sample (a host with
// hundreds of veth pairs reports the busiest).
const MaxInterfaces = 32

// sampler takes SystemSamples; CPU and network are deltas since its
// previous sample. Used by one goroutine.
type sampler struct {
	dataDir string
	conns   func() uint64
	xdp     func() map[string]uint64

	lastCPU *cpu.TimesStat
	lastNet map[string]psnet.IOCountersStat
}

// sample reads the machine; a part gopsutil cannot read (a platform
// without load averages, say) is left zero rather than failing the rest.
func (s *sampler) sample(ctx context.Context, now time.Time) *metricsv1.SystemSample {
	out := &metricsv1.SystemSample{UnixSecond: now.Unix(), Goroutines: uint64(runtime.NumGoroutine())}
	if ts, err := cpu.TimesWithContext(ctx, false); err == nil && len(ts) == 1 {
		t := ts[0]
		if s.lastCPU != nil {
			out.CpuPercent = busyPercent(*s.lastCPU, t)
		}
		s.lastCPU = &t
	}
	if l, err := load.AvgWithContext(ctx); err == nil {
		out.Load1 = l.Load1
	}
	if m, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		out.MemoryUsedBytes, out.MemoryTotalBytes = m.Used, m.Total
	}
	if s.dataDir != "" {
		if u, err := disk.UsageWithContext(ctx, s.dataDir); err == nil {
			out.Disks = append(out.Disks, &metricsv1.DiskUsage{Path: s.dataDir, UsedBytes: u.Used, TotalBytes: u.Total})
		}
	}
	if ns, err := psnet.IOCountersWithContext(ctx, true); err == nil {
		next := make(map[string]psnet.IOCountersStat, len(ns))
		for _, n := range ns {
			next[n.Name] = n
			prev, ok := s.lastNet[n.Name]
			if !ok {
				continue // no delta for an interface first seen
			}
			out.Interfaces = append(out.Interfaces, &metricsv1.NetInterface{
				Name: n.Name, BytesRecv: delta(prev.BytesRecv, n.BytesRecv), BytesSent: delta(prev.BytesSent, n.BytesSent),
				PacketsRecv: delta(prev.PacketsRecv, n.PacketsRecv), PacketsSent: delta(prev.PacketsSent, n.PacketsSent),
				Errors: delta(prev.Errin+prev.Errout, n.Errin+n.Errout),
			})
		}
		s.lastNet = next
		if len(out.Interfaces) > MaxInterfaces {
			sort.Slice(out.Interfaces, func(i, j int) bool {
				a, b := out.Interfaces[i], out.Interfaces[j]
				return a.BytesRecv+a.BytesSent > b.BytesRecv+b.BytesSent
			})
			out.Interfaces = out.Interfaces[:MaxInterfaces]
		}
		sort.Slice(out.Interfaces, func(i, j int) bool { return out.Interfaces[i].Name < out.Interfaces[j].Name })
	}
	if s.conns != nil {
		out.OpenConnections = s.conns()
	}
	if s.xdp != nil {
		for reason, n := range s.xdp() {
			out.XdpPackets = append(out.XdpPackets, &metricsv1.NameCount{Name: reason, Count: n})
		}
		sort.Slice(out.XdpPackets, func(i, j int) bool { return out.XdpPackets[i].Name < out.XdpPackets[j].Name })
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms) // every few seconds: its short stop does not matter
	out.HeapBytes = ms.HeapAlloc
	return out
}

// busyPercent is the share of CPU time not idle between two readings, as
// gopsutil's cpu.Percent computes it (guest time is already in user).
func busyPercent(a, b cpu.TimesStat) float64 {
	all := func(t cpu.TimesStat) (total, busy float64) {
		total = t.User + t.System + t.Idle + t.Nice + t.Iowait + t.Irq + t.Softirq + t.Steal
		return total, total - t.Idle - t.Iowait
	}
	t1, b1 := all(a)
	t2, b2 := all(b)
	if t2 <= t1 || b2 <= b1 {
		return 0
	}
	return min(100, (b2-b1)/(t2-t1)*100)
}

// delta of a counter that may have been reset (interface re-created).
func delta(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}
