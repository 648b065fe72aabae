package join

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/strata-edge/strata/pkg/keywrap"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// Files of the node's data directory (see the package doc).
const (
	KeyFile         = "node.nk"
	StateFile       = "node.json"
	KEKFile         = "node.kek"
	CredentialsFile = "node.creds"
)

// KEKEnv, when set, holds the node KEK instead of KEKFile.
const KEKEnv = "STRATA_NODE_KEK"

// State is StateFile: what the control plane said at the last successful
// join.
type State struct {
	NodeID      string   `json:"node_id"`
	Name        string   `json:"name"`
	ClusterID   string   `json:"cluster_id"`
	PartitionID string   `json:"partition_id"`
	Staging     bool     `json:"staging"`
	LeafURLs    []string `json:"leaf_urls"`
}

// Joined reports whether dir holds the state of an earlier join.
func Joined(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, StateFile))
	return err == nil
}

// LoadKEK reads the node KEK: KEKEnv, else DATA_DIR/node.kek; nil
// (certificates are not served) when neither is set.
func LoadKEK(dataDir string) (*keywrap.Keyring, error) {
	if text := os.Getenv(KEKEnv); text != "" {
		return keywrap.Parse(text)
	}
	path := filepath.Join(dataDir, KEKFile)
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	kr, err := keywrap.Load(path)
	if err != nil {
		return nil, fmt.Errorf("node KEK: %w", err)
	}
	return kr, nil
}

// loadOrCreateKey reads the node's nkey user seed, creating it (mode 0600)
// on the first start.
func loadOrCreateKey(path string) (nkeys.KeyPair, []byte, error) {
	b, err := secretfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, nil, fmt.Errorf("create node key: %w", err)
		}
		seed, _ := kp.Seed()
		if err := secretfile.Write(path, append(seed, '\n')); err != nil {
			return nil, nil, err
		}
		return kp, seed, nil
	}
	if err != nil {
		return nil, nil, err
	}
	seed := []byte(strings.TrimSpace(string(b)))
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, nil, fmt.Errorf("node key %s: not an nkey seed: %w", path, err)
	}
	if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicUserKey(pub) {
		return nil, nil, fmt.Errorf("node key %s: not a user seed (SU...)", path)
	}
	return kp, seed, nil
}

// storedJWT reads the user JWT of the credentials file package node wrote,
// which must have been issued for the node's key pub.
func storedJWT(path, pub string) (string, error) {
	b, err := secretfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: missing; the node needs a join token to get credentials again", path)
	}
	if err != nil {
		return "", err
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	claims, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if claims.Subject != pub {
		return "", fmt.Errorf("%s: issued for another key than %s (the node key changed); join again with a join token", path, KeyFile)
	}
	return token, nil
}

func loadState(dir string) (*State, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.NodeID == "" || st.PartitionID == "" || len(st.LeafURLs) == 0 {
		return nil, fmt.Errorf("%s: node_id, partition_id and leaf_urls are required; delete the file and join again", path)
	}
	return &st, nil
}

func saveState(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return secretfile.Write(filepath.Join(dir, StateFile), append(b, '\n'))
}

// SplitPublicIPs sorts a node's public addresses into its one IPv4 and one
// IPv6 address (either may be empty); field names the option in errors.
func SplitPublicIPs(field string, ips []string) (ipv4, ipv6 string, err error) {
	for _, raw := range ips {
		ip, perr := netip.ParseAddr(raw)
		switch {
		case perr != nil || ip.Zone() != "":
			return "", "", fmt.Errorf("%s %q: not an IP address", field, raw)
		case ip.Is4() || ip.Is4In6():
			if ipv4 != "" {
				return "", "", fmt.Errorf("%s %q: a node has one IPv4 address, %s was given already", field, raw, ipv4)
			}
			ipv4 = ip.Unmap().String()
		default:
			if ipv6 != "" {
				return "", "", fmt.Errorf("%s %q: a node has one IPv6 address, %s was given already", field, raw, ipv6)
			}
			ipv6 = ip.String()
		}
	}
	return ipv4, ipv6, nil
}
