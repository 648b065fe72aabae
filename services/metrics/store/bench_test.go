package store

// Benchmarks (figures in README.md):
//
//	go test -run '^$' -bench . -benchtime 20x ./services/metrics/store/
//	STRATA_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test -run '^$' -bench . ./services/metrics/store/

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	metricsv1 "github.com/strata-edge/strata/gen/strata/metrics/v1"
	"github.com/strata-edge/strata/pkg/sketch"
	"github.com/strata-edge/strata/pkg/testenv"
)

func benchSQLite(b *testing.B) *sqlStore {
	s, err := OpenSQLite(filepath.Join(b.TempDir(), "m.db"), Retention{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s.(*sqlStore)
}

func benchPostgres(b *testing.B) *sqlStore {
	dsn := testenv.PostgresDSN(b)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	r := make([]byte, 6)
	rand.Read(r)
	schema := "metrics_bench_" + hex.EncodeToString(r)
	b.Cleanup(func() { pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	s, err := OpenPostgresOptions(context.Background(), dsn, PostgresOptions{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s.(*sqlStore)
}

var benchBase = time.Unix(1_800_000_000, 0)

// benchApp is a realistic app-second: 3 status codes, a latency sketch of
// 50 values, 2 upstream servers, 8 paths, 2 cache statuses.
func benchApp(r *mrand.Rand, app string, sec int64) *metricsv1.AppSecond {
	lat, u1, u2 := sketch.New(), sketch.New(), sketch.New()
	for range 50 {
		v := math.Exp(r.NormFloat64() + 3)
		lat.Add(v)
		if r.IntN(2) == 0 {
			u1.Add(v * 0.8)
		} else {
			u2.Add(v * 0.8)
		}
	}
	a := &metricsv1.AppSecond{AppId: app, UnixSecond: sec, Requests: 50, BytesIn: 5000, BytesOut: 500000, LatencyMs: lat.Proto(),
		Status: []*metricsv1.CodeCount{{Code: 200, Count: 45}, {Code: 404, Count: 4}, {Code: 502, Count: 1}},
		Upstreams: []*metricsv1.UpstreamSecond{{Server: "10.0.0.1:8080", Attempts: u1.Count(), LatencyMs: u1.Proto()},
			{Server: "10.0.0.2:8080", Attempts: u2.Count(), LatencyMs: u2.Proto(), Errors: []*metricsv1.NameCount{{Name: "timeout", Count: 1}}}},
		Cache:          []*metricsv1.NameCount{{Name: "HIT", Count: 40}, {Name: "MISS", Count: 10}},
		UpstreamErrors: []*metricsv1.NameCount{{Name: "timeout", Count: 1}},
	}
	for p := range 8 {
		a.Paths = append(a.Paths, &metricsv1.NameCount{Name: fmt.Sprintf("/api/v1/items/%d", p), Count: uint64(8 - p)})
	}
	return a
}

// benchIngest ingests reports of 1,000 app-seconds (100 apps, 10 s).
func benchIngest(b *testing.B, s *sqlStore) {
	r := mrand.New(mrand.NewPCG(1, 2))
	const apps, secs = 100, 10
	reports := make([]*metricsv1.Report, 16)
	for i := range reports {
		rep := &metricsv1.Report{BootId: "boot", ClusterId: "c1"}
		for sec := range secs {
			for a := range apps {
				rep.Apps = append(rep.Apps, benchApp(r, fmt.Sprintf("app%03d", a), benchBase.Unix()+int64(i*secs+sec)))
			}
		}
		reports[i] = rep
	}
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		rep := reports[i%len(reports)]
		rep.Seq = uint64(i + 1)
		if dup, err := s.Ingest(ctx, "n1", rep, benchBase.Add(time.Hour)); err != nil || dup {
			b.Fatalf("Ingest: dup=%v err=%v", dup, err)
		}
	}
	b.ReportMetric(float64(b.N*apps*secs)/b.Elapsed().Seconds(), "app-seconds/s")
	// The machine may be shared: the CPU this process spent (not the
	// database server's) says what a core does alone.
	b.ReportMetric(float64(b.N*apps*secs)/(cpuTime()-cpu0).Seconds(), "app-seconds/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkIngestSQLite(b *testing.B)   { benchIngest(b, benchSQLite(b)) }
func BenchmarkIngestPostgres(b *testing.B) { benchIngest(b, benchPostgres(b)) }

// seedDay writes 24 h of one node's traffic for 100 apps directly as the
// store keeps it with default retention after compaction: the last hour
// at 1 s, the 23 before at 1 min. With fineApp set, that app has the whole
// day at 1 s (as with Retention.Second = 24h). It returns the end of the
// day.
func seedDay(b *testing.B, s *sqlStore, fineApp string) time.Time {
	ctx := context.Background()
	r := mrand.New(mrand.NewPCG(3, 4))
	end := benchBase.Add(24 * time.Hour)
	secStart := end.Add(-time.Hour).Unix()
	// A few distinct rows to copy (building a sketch per row is not what is
	// measured).
	protos := make([]trafficRow, 64)
	for i := range protos {
		t, err := rowFromAppSecond("n1", "c1", benchApp(r, "x", 1))
		if err != nil {
			b.Fatal(err)
		}
		protos[i] = t
	}
	var rows []trafficRow
	flush := func() {
		if err := s.writeTx(ctx, func(tx *sql.Tx) error { return s.insertTraffic(ctx, tx, rows) }); err != nil {
			b.Fatal(err)
		}
		rows = rows[:0]
	}
	for a := range 100 {
		app := fmt.Sprintf("app%03d", a)
		for ts := benchBase.Unix(); ts < end.Unix(); {
			res := int64(resMinute)
			if ts >= secStart || app == fineApp {
				res = resSecond
			}
			t := protos[len(rows)%len(protos)]
			t.app, t.ts, t.res = app, ts, int(res)
			if res == resMinute {
				t.requests *= 60
			}
			rows = append(rows, t)
			if len(rows) == 10_000 {
				flush()
			}
			ts += res
		}
	}
	flush()
	rolled := secStart
	if fineApp != "" {
		rolled = 0
	}
	for name, v := range map[string]int64{"rolled_1": rolled, "rolled_60": 0} {
		if _, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO {p}meta (name, value) VALUES (?, ?)`), name, v); err != nil {
			b.Fatal(err)
		}
	}
	return end
}

// benchSeries: one app's 24 h series at 10 s steps while 100 apps have
// data. With default retention all but the last hour is at 1 min, so the
// step becomes 60 s (1,440 points); "fine" keeps the app's day at 1 s
// (8,640 points of 10 s).
func benchSeries(b *testing.B, open func(b *testing.B) *sqlStore) {
	for _, v := range []struct {
		name, fineApp string
		points        int
	}{{"default", "", 1440}, {"fine", "app042", 8640}} {
		b.Run(v.name, func(b *testing.B) {
			s := open(b)
			end := seedDay(b, s, v.fineApp)
			for _, series := range []string{"requests", "latency_p99"} {
				b.Run(series, func(b *testing.B) {
					q := SeriesQuery{AppID: "app042", Series: series, Start: end.Add(-24 * time.Hour), End: end, Step: 10 * time.Second}
					cpu0 := cpuTime()
					defer func() { b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op") }()
					for range b.N {
						r, err := s.Series(context.Background(), q)
						if err != nil {
							b.Fatal(err)
						}
						if len(r.Points) != v.points || r.Points[0].Value == 0 {
							b.Fatalf("%d points, first %v", len(r.Points), r.Points[0].Value)
						}
					}
				})
			}
		})
	}
}

func BenchmarkSeries24hSQLite(b *testing.B)   { benchSeries(b, benchSQLite) }
func BenchmarkSeries24hPostgres(b *testing.B) { benchSeries(b, benchPostgres) }
