package eventstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/eventstore"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Run with e.g.
//
//	STRATA_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	go test -run '^$' -bench . -benchtime 2000x ./eventstore/
//
// JetStreamFsync is the embedded default (fsync before every ack);
// JetStreamNoFsync shows what the 2-minute sync interval would buy.

type benchStore struct {
	name string
	open func(b *testing.B) eventstore.Store
}

func benchStores() []benchStore {
	return []benchStore{
		{"JetStreamFsync", func(b *testing.B) eventstore.Store { return newJetStreamStore(b) }},
		{"JetStreamNoFsync", func(b *testing.B) eventstore.Store { return newJetStreamStoreNoSync(b) }},
		{"Postgres", func(b *testing.B) eventstore.Store { return newPostgresStore(b, eventstore.PostgresOptions{}) }},
	}
}

func newJetStreamStoreNoSync(b *testing.B) eventstore.Store {
	srv, err := natsutil.StartServer(natsutil.ServerOptions{Port: -1, StoreDir: b.TempDir(), NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Shutdown)
	nc, err := natsutil.ConnectInProcess(srv)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	s, err := eventstore.NewJetStream(context.Background(), js, eventstore.JetStreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func payload() []byte { return make([]byte, 256) } // a typical small protobuf event

// BenchmarkAppend: one writer, one event per append, with an expected version.
func BenchmarkAppend(b *testing.B) {
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			ctx := context.Background()
			data := payload()
			var version uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := s.Append(ctx, "bench.seq", version, eventstore.Event{ID: fmt.Sprintf("e%d", i), Type: "bench", Data: data})
				if err != nil {
					b.Fatal(err)
				}
				version = out[0].Position
			}
		})
	}
}

// BenchmarkAppendBatch10: one writer, ten events per atomic append.
func BenchmarkAppendBatch10(b *testing.B) {
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			ctx := context.Background()
			data := payload()
			var version uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch := make([]eventstore.Event, 10)
				for j := range batch {
					batch[j] = eventstore.Event{ID: fmt.Sprintf("e%d-%d", i, j), Type: "bench", Data: data}
				}
				out, err := s.Append(ctx, "bench.batch", version, batch...)
				if err != nil {
					b.Fatal(err)
				}
				version = out[len(out)-1].Position
			}
			b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendParallel: concurrent writers on distinct streams.
func BenchmarkAppendParallel(b *testing.B) {
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			ctx := context.Background()
			data := payload()
			var writers atomic.Int64
			b.SetParallelism(8) // 16 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := writers.Add(1)
				stream := fmt.Sprintf("bench.w%d", w)
				var version uint64
				for i := 0; pb.Next(); i++ {
					out, err := s.Append(ctx, stream, version, eventstore.Event{ID: fmt.Sprintf("w%d-%d", w, i), Type: "bench", Data: data})
					if err != nil {
						b.Error(err)
						return
					}
					version = out[0].Position
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// fill appends n events in batches of 100 over 10 streams.
func fill(b *testing.B, s eventstore.Store, n int) {
	ctx := context.Background()
	data := payload()
	for i := 0; i < n; i += 100 {
		batch := make([]eventstore.Event, 100)
		for j := range batch {
			batch[j] = eventstore.Event{ID: fmt.Sprintf("f%d", i+j), Type: "bench", Data: data}
		}
		if _, err := s.Append(ctx, fmt.Sprintf("bench.s%d", (i/100)%10), eventstore.AnyVersion, batch...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadAll: one op reads 5,000 events of the global log.
func BenchmarkReadAll(b *testing.B) {
	const n = 5000
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			fill(b, s, n)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evs, err := s.ReadAll(ctx, 0, 0)
				if err != nil || len(evs) != n {
					b.Fatalf("ReadAll: %d events, %v", len(evs), err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkReadStream: loading one aggregate of 10 events from a log of
// 5,000, as a command handler does before it appends.
func BenchmarkReadStream(b *testing.B) {
	for _, bs := range benchStores() {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			fill(b, s, 5000)
			ctx := context.Background()
			var agg []eventstore.Event
			for j := 0; j < 10; j++ {
				agg = append(agg, eventstore.Event{ID: fmt.Sprintf("a%d", j), Type: "bench", Data: payload()})
			}
			if _, err := s.Append(ctx, "bench.agg", 0, agg...); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				evs, err := s.ReadStream(ctx, "bench.agg", 0)
				if err != nil || len(evs) != 10 {
					b.Fatalf("ReadStream: %d events, %v", len(evs), err)
				}
			}
		})
	}
}
