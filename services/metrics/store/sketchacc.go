package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// sketchAcc merges stored sketches (validated when ingested) bucket by
// bucket without decoding each into a sketch.Sketch: a query merges
// thousands of them.
type sketchAcc struct {
	offset        int32
	counts        []uint64
	zero, count   uint64
	sum, min, max float64
	buf           metricsv1.Sketch // reused to decode
}

// addBytes merges one encoded sketch (nil: none).
func (a *sketchAcc) addBytes(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	counts := a.buf.Counts[:0]
	a.buf.Reset()
	a.buf.Counts = counts
	if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, &a.buf); err != nil {
		return fmt.Errorf("stored sketch: %w", err)
	}
	return a.add(&a.buf)
}

func (a *sketchAcc) add(p *metricsv1.Sketch) error {
	if p.GetCount() == 0 {
		return nil
	}
	if p.RelativeAccuracy != sketch.DefaultAccuracy {
		return fmt.Errorf("stored sketch of accuracy %v, want %v", p.RelativeAccuracy, sketch.DefaultAccuracy)
	}
	if a.count == 0 || p.Min < a.min {
		a.min = p.Min
	}
	if a.count == 0 || p.Max > a.max {
		a.max = p.Max
	}
	a.count += p.Count
	a.sum += p.Sum
	a.zero += p.ZeroCount
	if len(p.Counts) == 0 {
		return nil
	}
	lo, hi := p.Offset, p.Offset+int32(len(p.Counts))
	if len(a.counts) == 0 {
		a.offset = lo
	}
	if lo < a.offset {
		grown := make([]uint64, int(a.offset-lo)+len(a.counts), int(a.offset-lo)+len(a.counts)+32)
		copy(grown[a.offset-lo:], a.counts)
		a.counts, a.offset = grown, lo
	}
	if end := a.offset + int32(len(a.counts)); hi > end {
		a.counts = append(a.counts, make([]uint64, hi-end)...)
	}
	for i, c := range p.Counts {
		a.counts[int(lo-a.offset)+i] += c
	}
	return nil
}

func (a *sketchAcc) empty() bool { return a.count == 0 }

// proto is the merged sketch's wire form (nil when empty).
func (a *sketchAcc) proto() *metricsv1.Sketch {
	if a.count == 0 {
		return nil
	}
	return &metricsv1.Sketch{RelativeAccuracy: sketch.DefaultAccuracy, Offset: a.offset, Counts: a.counts,
		ZeroCount: a.zero, Sum: a.sum, Min: a.min, Max: a.max, Count: a.count}
}

// bytes is the merged sketch encoded (nil when empty).
func (a *sketchAcc) bytes() ([]byte, error) {
	p := a.proto()
	if p == nil {
		return nil, nil
	}
	// Trim zero buckets at the ends (a merge never makes them, but stay
	// canonical).
	for len(p.Counts) > 0 && p.Counts[0] == 0 {
		p.Counts, p.Offset = p.Counts[1:], p.Offset+1
	}
	for len(p.Counts) > 0 && p.Counts[len(p.Counts)-1] == 0 {
		p.Counts = p.Counts[:len(p.Counts)-1]
	}
	return proto.Marshal(p)
}

// quantile answers q of the merged sketch (0 when empty).
func (a *sketchAcc) quantile(q float64) (float64, error) {
	if a.count == 0 {
		return 0, nil
	}
	s, err := sketch.FromProto(a.proto())
	if err != nil {
		return 0, fmt.Errorf("merged stored sketches: %w", err)
	}
	return s.Quantile(q), nil
}
