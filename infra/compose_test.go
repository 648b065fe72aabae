// Package infra_test checks infra/docker-compose.yml without a container
// engine: it loads with compose-go (the loader docker compose uses), its
// strata commands parse with the binary's own flag parsing, and
// compose_e2e_test.go runs the same topology as processes.
package infra_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/strata-edge/strata/internal/cli"
	"github.com/strata-edge/strata/internal/stack"
	"github.com/strata-edge/strata/pkg/apiauth"
)

const composeFile = "docker-compose.yml"

// strataImage is the image infra/Dockerfile builds; its entrypoint is the
// strata binary, so a service's command is strata's arguments.
const strataImage = "strata:dev"

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := composecli.NewProjectOptions([]string{composeFile}, composecli.WithEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s does not load: %v", composeFile, err)
	}
	return p
}

// controlServices maps each service running `strata control` to the
// control services its --services names.
func controlServices(t *testing.T, p *types.Project) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, s := range p.Services {
		if s.Image != strataImage || len(s.Command) == 0 || s.Command[0] != "control" {
			continue
		}
		cmd, err := cli.ParseCommand(s.Command)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		list, _ := cmd.Flags().GetString("services")
		svcs, err := stack.ParseServices(list)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		out[name] = svcs
	}
	return out
}

func TestComposeFileLoads(t *testing.T) {
	p := loadCompose(t)
	for name, s := range p.Services {
		if s.Image == strataImage {
			if s.Build == nil || s.Build.Dockerfile != "infra/Dockerfile" {
				t.Errorf("service %s: build %+v, want infra/Dockerfile", name, s.Build)
			}
			if _, err := cli.ParseCommand(s.Command); err != nil {
				t.Errorf("service %s: command %q does not parse: %v", name, s.Command, err)
			}
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s:%d on %q; want 127.0.0.1 only", name, port.Published, port.Target, port.HostIP)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeVolume {
				t.Errorf("service %s: volume %s is a %s; want named volumes only", name, v.Source, v.Type)
			} else if _, ok := p.Volumes[v.Source]; !ok {
				t.Errorf("service %s: volume %s is not declared", name, v.Source)
			}
		}
		for net := range s.Networks {
			if _, ok := p.Networks[net]; !ok {
				t.Errorf("service %s: network %s is not declared", name, net)
			}
		}
		for _, c := range s.Configs {
			if _, ok := p.Configs[c.Source]; !ok {
				t.Errorf("service %s: config %s is not declared", name, c.Source)
			}
		}
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			switch {
			case !ok:
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
			case d.Condition == types.ServiceConditionHealthy && target.HealthCheck == nil:
				t.Errorf("service %s waits for %s to be healthy, which has no health check", name, dep)
			case d.Condition == types.ServiceConditionCompletedSuccessfully && target.Restart != "no":
				t.Errorf("service %s waits for %s to complete, which restarts (%q)", name, dep, target.Restart)
			}
		}
		oneShot := s.Restart == "no"
		if !oneShot && s.HealthCheck == nil && name != "pebble" && name != "origin" {
			t.Errorf("service %s has no health check", name)
		}
	}

	// Every control service runs somewhere, config and cert twice, on the
	// PostgreSQL event store, its URL from a secret file on a volume.
	ctl := controlServices(t, p)
	var all []string
	for name, svcs := range ctl {
		all = append(all, svcs...)
		s := p.Services[name]
		cmd, _ := cli.ParseCommand(s.Command)
		if r, _ := cmd.Flags().GetInt("replicas"); r != 3 {
			t.Errorf("service %s: --replicas %d; want 3 (R3 on the 3-node cluster)", name, r)
		}
		store, _ := cmd.Flags().GetString("store")
		dsn, _ := cmd.Flags().GetString("postgres-dsn")
		dsnFile, _ := cmd.Flags().GetString("postgres-dsn-file")
		if store != "postgres" || dsn != "" || dsnFile == "" {
			t.Errorf("service %s: --store %q --postgres-dsn %q --postgres-dsn-file %q; want postgres with the URL from a file", name, store, dsn, dsnFile)
		}
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return strings.HasPrefix(dsnFile, v.Target+"/") }) {
			t.Errorf("service %s: --postgres-dsn-file %s is on no volume", name, dsnFile)
		}
		if d, ok := s.DependsOn["postgres"]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("service %s: want depends_on postgres: service_healthy", name)
		}
	}
	pg, ok := p.Services["postgres"]
	switch {
	case !ok:
		t.Error("no postgres service")
	case !strings.HasPrefix(pg.Image, "postgres:"):
		t.Errorf("service postgres: image %s; want postgres:N", pg.Image)
	case pg.HealthCheck == nil || !slices.Contains(pg.HealthCheck.Test, "pg_isready"):
		t.Errorf("service postgres: health check %v; want pg_isready", pg.HealthCheck)
	case pg.Environment["POSTGRES_PASSWORD_FILE"] == nil:
		t.Error("service postgres: want POSTGRES_PASSWORD_FILE (the password generated into a volume)")
	case !slices.ContainsFunc(pg.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/var/lib/postgresql/data" }):
		t.Error("service postgres: its data directory is on no named volume")
	}
	for _, want := range stack.KnownServices {
		if !slices.Contains(all, want) {
			t.Errorf("no container runs the %s control service", want)
		}
	}
	for _, name := range []string{"config", "cert"} {
		if s := p.Services[name]; s.Deploy == nil || s.Deploy.Replicas == nil || *s.Deploy.Replicas != 2 {
			t.Errorf("service %s: want deploy.replicas 2", name)
		}
	}
	nats := 0
	for name := range p.Services {
		if strings.HasPrefix(name, "nats-") && name != "nats-config" {
			nats++
		}
	}
	if nats != 3 {
		t.Errorf("%d NATS servers, want 3", nats)
	}
	// The JetStream event store publishes atomic batches: nats-server 2.12+.
	tag := regexp.MustCompile(`^nats:2\.(\d+)`)
	for name, s := range p.Services {
		if m := tag.FindStringSubmatch(s.Image); m != nil {
			if minor, _ := strconv.Atoi(m[1]); minor < 12 {
				t.Errorf("service %s: image %s; want nats 2.12 or newer", name, s.Image)
			}
		} else if strings.HasPrefix(s.Image, "nats:") {
			t.Errorf("service %s: image %s; want a nats:2.N tag", name, s.Image)
		}
	}
}

// TestComposeFileHasNoSecrets: nothing secret is written in the file; the
// init services generate secrets into volumes.
func TestComposeFileHasNoSecrets(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for what, re := range map[string]*regexp.Regexp{
		"an nkey seed":  regexp.MustCompile(`S[OAU][A-Z2-7]{50,}`),
		"a JWT":         regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}`),
		"a join token":  regexp.MustCompile(`jtok_[A-Za-z0-9]`),
		"an API token":  regexp.MustCompile(regexp.QuoteMeta(apiauth.TokenPrefix) + `[A-Za-z0-9_-]{8,}`),
		"a private key": regexp.MustCompile(`PRIVATE KEY`),
		// A URL with a literal password (user:PASSWORD@host); the init
		// step's printf format (%s) is not one.
		"a URL password": regexp.MustCompile(`://[^/\s:@]+:[^/\s@%]+@`),
	} {
		if m := re.Find(raw); m != nil {
			t.Errorf("%s holds %s: %.20s...", composeFile, what, m)
		}
	}
	secretName := regexp.MustCompile(`(?i)(password|secret|token|hmac|_key)$`)
	for name, s := range loadCompose(t).Services {
		for k, v := range s.Environment {
			if secretName.MatchString(k) && v != nil && *v != "" {
				t.Errorf("service %s: environment %s is set in the file; generate it into a volume", name, k)
			}
		}
	}
}
