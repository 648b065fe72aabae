package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
)

// sketchAcc merges stored sketches (validated when ingested) into one
// with sketch.MergeProto, decoding each into one reused message: a query
// merges thousands of them. The zero value is empty.
type sketchAcc struct {
	sk  *sketch.Sketch
	buf metricsv1.Sketch // reused to decode
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
	if a.sk == nil {
		a.sk = sketch.New()
	}
	if err := a.sk.MergeProto(&a.buf); err != nil {
		return fmt.Errorf("stored sketch: %w", err)
	}
	return nil
}

// bytes is the merged sketch encoded (nil when empty).
func (a *sketchAcc) bytes() ([]byte, error) {
	if a.sk == nil || a.sk.Count() == 0 {
		return nil, nil
	}
	return proto.Marshal(a.sk.Proto())
}

// quantile answers q of the merged sketch (0 when empty).
func (a *sketchAcc) quantile(q float64) float64 {
	if a.sk == nil {
		return 0
	}
	return a.sk.Quantile(q)
}
