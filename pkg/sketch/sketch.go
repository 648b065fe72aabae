// Package sketch is a mergeable quantile sketch (DDSketch, Masson et al.,
// VLDB 2019) for latencies and other positive values: bucket i counts the
// values v with gamma^(i-1) < v <= gamma^i, so a quantile is answered
// within the relative accuracy of a value recorded at that rank, and two
// sketches of one accuracy merge exactly (bucket counts add). Node
// aggregates, Metric SQL quantile() and the metrics store all use it.
package sketch

import (
	"errors"
	"fmt"
	"math"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
)

// DefaultAccuracy is the relative accuracy of New: a p99 of 100 ms is
// reported between 99 and 101 ms.
const DefaultAccuracy = 0.01

// Values at or below MinValue count as zero; values above MaxValue count in
// the top bucket. In milliseconds: 1 ns to about 11.5 days.
const (
	MinValue = 1e-6
	MaxValue = 1e9
)

// MaxBuckets bounds a sketch's memory whatever it is fed (8 bytes a bucket).
const MaxBuckets = 2048

// Sketch is one sketch. The zero value is not ready: use New or
// WithAccuracy. Not safe for concurrent use.
type Sketch struct {
	accuracy float64
	lnGamma  float64
	offset   int32 // index of counts[0]
	counts   []uint64
	zero     uint64
	count    uint64
	sum      float64
	min, max float64
}

// New returns an empty sketch of DefaultAccuracy.
func New() *Sketch {
	s, _ := WithAccuracy(DefaultAccuracy)
	return s
}

// WithAccuracy returns an empty sketch of the given relative accuracy
// (0 < a < 1; 0.01 is 1%). Coarser accuracies use fewer buckets.
func WithAccuracy(a float64) (*Sketch, error) {
	if !(a > 0 && a < 1) {
		return nil, fmt.Errorf("relative accuracy %v: must be between 0 and 1", a)
	}
	gamma := (1 + a) / (1 - a)
	if n := math.Log(MaxValue/MinValue) / math.Log(gamma); n > MaxBuckets {
		return nil, fmt.Errorf("relative accuracy %v: needs %d buckets, at most %d", a, int(n), MaxBuckets)
	}
	return &Sketch{accuracy: a, lnGamma: math.Log(gamma)}, nil
}

// Accuracy is the sketch's relative accuracy.
func (s *Sketch) Accuracy() float64 { return s.accuracy }

// Count, Sum, Min and Max describe the values added (Min and Max are 0 for
// an empty sketch).
func (s *Sketch) Count() uint64 { return s.count }

// Sum is the sum of the values added.
func (s *Sketch) Sum() float64 { return s.sum }

// Min is the smallest value added.
func (s *Sketch) Min() float64 { return s.min }

// Max is the largest value added.
func (s *Sketch) Max() float64 { return s.max }

// index is the bucket of v > MinValue.
func (s *Sketch) index(v float64) int32 {
	if v > MaxValue {
		v = MaxValue
	}
	return int32(math.Ceil(math.Log(v) / s.lnGamma))
}

// Add records one value. Once the sketch spans the values' range it does
// not allocate.
func (s *Sketch) Add(v float64) {
	if math.IsNaN(v) {
		return
	}
	s.addN(v, 1)
}

func (s *Sketch) addN(v float64, n uint64) {
	if s.count == 0 || v < s.min {
		s.min = v
	}
	if s.count == 0 || v > s.max {
		s.max = v
	}
	s.count += n
	s.sum += v * float64(n)
	if v <= MinValue {
		s.zero += n
		return
	}
	i := s.index(v)
	s.grow(i)
	s.counts[i-s.offset] += n
}

// grow makes room for bucket i.
func (s *Sketch) grow(i int32) {
	if len(s.counts) == 0 {
		s.offset = i
		s.counts = make([]uint64, 1, 64)
		return
	}
	lo, hi := s.offset, s.offset+int32(len(s.counts))-1
	switch {
	case i < lo:
		n := int(lo - i)
		grown := make([]uint64, len(s.counts)+n, len(s.counts)+n+32)
		copy(grown[n:], s.counts)
		s.counts, s.offset = grown, i
	case i > hi:
		s.counts = append(s.counts, make([]uint64, int(i-hi))...)
	}
}

// Merge adds o's values to s. Both must have the same accuracy.
func (s *Sketch) Merge(o *Sketch) error {
	if o == nil || o.count == 0 {
		return nil
	}
	if o.accuracy != s.accuracy {
		return fmt.Errorf("merge a sketch of accuracy %v into one of %v", o.accuracy, s.accuracy)
	}
	s.merge(o.offset, o.counts, o.zero, o.count, o.sum, o.min, o.max)
	return nil
}

// MergeProto adds a wire sketch of the same accuracy to s without building
// a Sketch of it (a query merges thousands of stored ones). Its buckets are
// checked against the value range, not its count: use FromProto for
// untrusted input.
func (s *Sketch) MergeProto(p *metricsv1.Sketch) error {
	if p.GetCount() == 0 {
		return nil
	}
	if p.GetRelativeAccuracy() != s.accuracy {
		return fmt.Errorf("merge a sketch of accuracy %v into one of %v", p.GetRelativeAccuracy(), s.accuracy)
	}
	if len(p.Counts) > MaxBuckets || len(p.Counts) > 0 &&
		(p.Offset < s.index(MinValue) || p.Offset+int32(len(p.Counts))-1 > s.index(MaxValue)) {
		return errors.New("sketch: buckets outside the value range")
	}
	s.merge(p.Offset, p.Counts, p.ZeroCount, p.Count, p.Sum, p.Min, p.Max)
	return nil
}

// merge adds the parts of a sketch of s's accuracy.
func (s *Sketch) merge(offset int32, counts []uint64, zero, count uint64, sum, lo, hi float64) {
	if s.count == 0 || lo < s.min {
		s.min = lo
	}
	if s.count == 0 || hi > s.max {
		s.max = hi
	}
	s.count += count
	s.sum += sum
	s.zero += zero
	if len(counts) > 0 {
		s.grow(offset)
		s.grow(offset + int32(len(counts)) - 1)
		for j, c := range counts {
			s.counts[offset+int32(j)-s.offset] += c
		}
	}
}

// Quantile returns the value at rank q (0 <= q <= 1) within the relative
// accuracy; 0 for an empty sketch. The bucket's estimate is clamped to
// [Min, Max], so Quantile(0) and Quantile(1) are exact.
func (s *Sketch) Quantile(q float64) float64 {
	if s.count == 0 || math.IsNaN(q) {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(q * float64(s.count-1))
	seen := s.zero
	if rank < seen {
		return s.min
	}
	for j, c := range s.counts {
		seen += c
		if rank < seen {
			i := s.offset + int32(j)
			// The middle of the bucket (gamma^(i-1), gamma^i] in relative terms.
			v := 2 * math.Exp(float64(i)*s.lnGamma) / (1 + math.Exp(s.lnGamma))
			return math.Max(s.min, math.Min(s.max, v))
		}
	}
	return s.max
}

// Reset empties the sketch and keeps its memory.
func (s *Sketch) Reset() {
	clear(s.counts)
	s.counts = s.counts[:0]
	s.offset, s.zero, s.count, s.sum, s.min, s.max = 0, 0, 0, 0, 0, 0
}

// Proto is the sketch's wire form (nil for an empty sketch).
func (s *Sketch) Proto() *metricsv1.Sketch {
	if s.count == 0 {
		return nil
	}
	lo, hi := 0, len(s.counts)
	for lo < hi && s.counts[lo] == 0 {
		lo++
	}
	for hi > lo && s.counts[hi-1] == 0 {
		hi--
	}
	return &metricsv1.Sketch{
		RelativeAccuracy: s.accuracy, Offset: s.offset + int32(lo), Counts: append([]uint64(nil), s.counts[lo:hi]...),
		ZeroCount: s.zero, Sum: s.sum, Min: s.min, Max: s.max, Count: s.count,
	}
}

// FromProto decodes a wire sketch, checking it is one a sketch could have
// written (received from a node, it is untrusted).
func FromProto(p *metricsv1.Sketch) (*Sketch, error) {
	if p == nil {
		return New(), nil
	}
	s, err := WithAccuracy(p.GetRelativeAccuracy())
	if err != nil {
		return nil, err
	}
	if len(p.Counts) > MaxBuckets {
		return nil, fmt.Errorf("sketch: %d buckets, at most %d", len(p.Counts), MaxBuckets)
	}
	lo, hi := s.index(MinValue), s.index(MaxValue)
	if len(p.Counts) > 0 && (p.Offset < lo || p.Offset+int32(len(p.Counts))-1 > hi) {
		return nil, errors.New("sketch: buckets outside the value range")
	}
	var n uint64 = p.ZeroCount
	for _, c := range p.Counts {
		n += c
	}
	if n != p.Count {
		return nil, fmt.Errorf("sketch: buckets hold %d values, count says %d", n, p.Count)
	}
	s.offset, s.counts = p.Offset, append([]uint64(nil), p.Counts...)
	s.zero, s.count, s.sum, s.min, s.max = p.ZeroCount, p.Count, p.Sum, p.Min, p.Max
	return s, nil
}
