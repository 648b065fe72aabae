package sketch

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Every quantile of a skewed (log-normal) latency sample is within the
// relative accuracy of the exact value at that rank.
func TestQuantilesWithinAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := New()
	vals := make([]float64, 100_000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64()*1.5 + 3) // ms, median ~20
		s.Add(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(q*float64(len(vals)-1))]
		got := s.Quantile(q)
		if rel := math.Abs(got-exact) / exact; rel > DefaultAccuracy+1e-9 {
			t.Errorf("q%v = %v, exact %v: relative error %.4f > %v", q, got, exact, rel, DefaultAccuracy)
		}
	}
	if s.Count() != uint64(len(vals)) || s.Min() != vals[0] || s.Max() != vals[len(vals)-1] {
		t.Errorf("count/min/max = %d/%v/%v", s.Count(), s.Min(), s.Max())
	}
}

// Merging the sketches of two halves gives the sketch of the whole, bucket
// for bucket.
func TestMergeIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	whole, a, b := New(), New(), New()
	for i := range 10_000 {
		v := r.Float64() * 1000
		if i == 7 {
			v = 0 // a zero goes to the zero bucket
		}
		whole.Add(v)
		if i%2 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	wp, ap := whole.Proto(), a.Proto()
	if !slices.Equal(wp.Counts, ap.Counts) || wp.Offset != ap.Offset || wp.ZeroCount != ap.ZeroCount || wp.Count != ap.Count {
		t.Fatalf("merged sketch differs from the whole's")
	}
	coarse, _ := WithAccuracy(0.05)
	coarse.Add(1)
	if err := a.Merge(coarse); err == nil {
		t.Fatal("merging sketches of different accuracies: want an error")
	}
}

// The wire form round-trips, and a forged one is refused.
func TestProtoRoundTripAndForgery(t *testing.T) {
	s := New()
	for _, v := range []float64{0.5, 3, 3, 250, 1e12} {
		s.Add(v)
	}
	back, err := FromProto(s.Proto())
	if err != nil {
		t.Fatal(err)
	}
	if back.Quantile(0.5) != s.Quantile(0.5) || back.Count() != 5 {
		t.Fatalf("round trip: q50 %v vs %v", back.Quantile(0.5), s.Quantile(0.5))
	}
	p := s.Proto()
	p.Count++
	if _, err := FromProto(p); err == nil {
		t.Error("count that the buckets do not hold: want an error")
	}
	p = s.Proto()
	p.Offset = 1 << 20
	if _, err := FromProto(p); err == nil {
		t.Error("buckets outside the range: want an error")
	}
}

func BenchmarkAdd(b *testing.B) {
	s := New()
	for i := range b.N {
		s.Add(float64(i%5000) / 10)
	}
}

// MergeProto of a wire sketch equals Merge of the decoded one, and refuses
// another accuracy and buckets outside the range.
func TestMergeProto(t *testing.T) {
	a, b, want := New(), New(), New()
	for i := range 1000 {
		a.Add(float64(i))
		b.Add(float64(i * 3))
		want.Add(float64(i))
		want.Add(float64(i * 3))
	}
	if err := a.MergeProto(b.Proto()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Proto().Counts, want.Proto().Counts) || a.Count() != want.Count() || a.Quantile(0.99) != want.Quantile(0.99) {
		t.Fatal("MergeProto differs from adding the values")
	}
	coarse, _ := WithAccuracy(0.05)
	coarse.Add(1)
	if err := a.MergeProto(coarse.Proto()); err == nil {
		t.Error("another accuracy: want an error")
	}
	p := b.Proto()
	p.Offset = 1 << 20
	if err := a.MergeProto(p); err == nil {
		t.Error("buckets outside the range: want an error")
	}
}
