package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// A node config file (--config) holds flags of `strata node`, so cloud-init
// can write them and a systemd unit can stay the same on every node. Keys
// are the flag names without "--"; a flag given on the command line wins.
// Two forms: YAML (.yaml, .yml) and "key = value" lines (anything else).

// maxConfigFile bounds a node config file: flags fit in a few KiB.
const maxConfigFile = 64 << 10

// readConfigFile reads path, refusing it past maxConfigFile before parsing.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigFile {
		return nil, fmt.Errorf("%s is over %d KiB, the limit of a node config file", path, maxConfigFile>>10)
	}
	return b, nil
}

type configEntry struct {
	key    string
	values []string
	line   int
}

// loadNodeConfig sets cmd's flags from the file at path, except those set on
// the command line. Unknown keys are refused, naming the key and its line.
func loadNodeConfig(cmd *cobra.Command, path string) error {
	b, err := readConfigFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var entries []configEntry
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		entries, err = parseYAMLConfig(b)
	default:
		entries, err = parseKeyValueConfig(string(b))
	}
	if err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	fs := cmd.Flags()
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { onCommandLine[f.Name] = true })
	seen := map[string]int{}
	for _, e := range entries {
		f := fs.Lookup(e.key)
		if f == nil || e.key == "config" || e.key == "help" {
			return fmt.Errorf("--config %s: line %d: unknown key %q (keys are the flags of strata node without --, e.g. join-token, name, data, api)", path, e.line, e.key)
		}
		if prev, dup := seen[e.key]; dup && f.Value.Type() != "stringArray" {
			return fmt.Errorf("--config %s: line %d: key %q given again (first on line %d)", path, e.line, e.key, prev)
		}
		seen[e.key] = e.line
		if onCommandLine[e.key] {
			continue // the command line wins
		}
		for _, v := range e.values {
			if err := fs.Set(e.key, v); err != nil {
				return fmt.Errorf("--config %s: line %d: %s: %w", path, e.line, e.key, err)
			}
		}
	}
	return nil
}

// parseKeyValueConfig reads "key = value" lines; # starts a comment line,
// a value may be double-quoted (Go syntax), a repeated key repeats the flag.
func parseKeyValueConfig(s string) ([]configEntry, error) {
	var out []configEntry
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want key = value, got %q", i+1, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, `"`) {
			u, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: bad quoted value %s", i+1, k, v)
			}
			v = u
		}
		out = append(out, configEntry{key: k, values: []string{v}, line: i + 1})
	}
	return out, nil
}

// parseYAMLConfig reads a mapping of keys to scalars or lists of scalars.
func parseYAMLConfig(b []byte) ([]configEntry, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of flag names to values", m.Line)
	}
	var out []configEntry
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		e := configEntry{key: k.Value, line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			e.values = []string{v.Value}
		case yaml.SequenceNode:
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: %s: want a list of values", it.Line, k.Value)
				}
				e.values = append(e.values, it.Value)
			}
		default:
			return nil, fmt.Errorf("line %d: %s: want a value or a list of values", v.Line, k.Value)
		}
		out = append(out, e)
	}
	return out, nil
}
