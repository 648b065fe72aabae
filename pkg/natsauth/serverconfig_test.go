package natsauth_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-edge/strata/pkg/natsauth"
)

// TestServerConfigTrustsOperator: a nats-server started from a config file
// that includes ServerConfig (as an external hub is) admits the control
// user with JetStream, and refuses a client without credentials.
func TestServerConfigTrustsOperator(t *testing.T) {
	dir := t.TempDir()
	a, err := natsauth.LoadOrCreate(filepath.Join(dir, "auth"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "strata-auth.conf"), []byte(a.ServerConfig()), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "hub.conf")
	main := "port: -1\njetstream { store_dir: " + filepath.Join(dir, "js") + ", domain: hub }\ninclude strata-auth.conf\n"
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("the generated config does not parse: %v\n%s", err, a.ServerConfig())
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}

	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected; want it refused")
	}
	jwt, seed, err := a.ControlUser()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(s.ClientURL(), nats.UserJWTAndSeed(jwt, string(seed)))
	if err != nil {
		t.Fatalf("control user refused: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("control user has no JetStream in the STRATA account: %v", err)
	}
}
