package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// nodeCmdWith parses args for `strata node` on the real command tree and
// applies --config the way RunE does, without starting a node.
func nodeCmdWith(t *testing.T, args ...string) (*cobra.Command, *globals, error) {
	t.Helper()
	g := &globals{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}
	root := newRoot(g, BuildInfo{})
	cmd, rest, err := root.Find(append([]string{"node"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	path, _ := cmd.Flags().GetString("config")
	return cmd, g, loadNodeConfig(cmd, path)
}

func writeFile(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNodeConfigFile(t *testing.T) {
	kv := writeFile(t, "node.conf", `# written by cloud-init
api = http://control:7400
join-token = "jt_1.secret"
name = fra-1
data = /var/lib/strata-node
public-ip = 203.0.113.7
public-ip = 2001:db8::7
http-port = 8080
`)
	yml := writeFile(t, "node.yaml", `api: http://control:7400
join-token: jt_1.secret
name: fra-1
data: /var/lib/strata-node
public-ip: [203.0.113.7, "2001:db8::7"]
http-port: 8080
`)
	for _, path := range []string{kv, yml} {
		t.Run(filepath.Ext(path), func(t *testing.T) {
			// The command line's --name and --http-port win over the file.
			cmd, g, err := nodeCmdWith(t, "--config", path, "--name", "cli-name", "--http-port", "9090")
			if err != nil {
				t.Fatal(err)
			}
			fs := cmd.Flags()
			str := func(n string) string { v, _ := fs.GetString(n); return v }
			ips, _ := fs.GetStringArray("public-ip")
			port, _ := fs.GetUint32("http-port")
			if g.api != "http://control:7400" || str("join-token") != "jt_1.secret" || str("data") != "/var/lib/strata-node" ||
				str("name") != "cli-name" || port != 9090 || strings.Join(ips, ",") != "203.0.113.7,2001:db8::7" {
				t.Fatalf("api %q join-token %q data %q name %q http-port %d public-ip %v", g.api, str("join-token"), str("data"),
					str("name"), port, ips)
			}
		})
	}
}

func TestNodeConfigFileRefusesBadKeys(t *testing.T) {
	for _, tt := range []struct{ name, body, want string }{
		{"node.conf", "name = a\njoin_token = x\n", `line 2: unknown key "join_token"`},
		{"node.yaml", "name: a\nlisten: x\n", `line 2: unknown key "listen"`},
		{"node.conf", "config = other.conf\n", `unknown key "config"`},
		{"node.conf", "name = a\nname = b\n", `line 2: key "name" given again`},
		{"node.conf", "http-port = eighty\n", `line 1: http-port`},
		{"node.conf", "just words\n", `line 1: want key = value`},
		{"node.conf", "name = a\n" + strings.Repeat("# padding\n", 7000), `over 64 KiB, the limit of a node config file`},
	} {
		t.Run(tt.want, func(t *testing.T) {
			_, _, err := nodeCmdWith(t, "--config", writeFile(t, tt.name, tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// Through the whole command: the error reaches the user, no node starts.
func TestNodeConfigUnknownKeyExits(t *testing.T) {
	var stdout, stderr bytes.Buffer
	p := writeFile(t, "node.conf", "nmae = fra-1\n")
	code := Execute(t.Context(), BuildInfo{}, []string{"node", "--config", p}, &stdout, &stderr, func(string) string { return "" })
	if code != 1 || !strings.Contains(stderr.String(), `unknown key "nmae"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
