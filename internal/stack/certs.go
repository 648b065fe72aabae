package stack

import (
	"os"
	"path/filepath"

	"github.com/strata-edge/strata/pkg/keywrap"
	certsvc "github.com/strata-edge/strata/services/cert"
	dnssvc "github.com/strata-edge/strata/services/dns"
)

// KEKFile, in the control plane's data dir, holds the control KEK when
// neither STRATA_KEK_FILE nor STRATA_KEK names one; `strata dev` creates
// it with mode 0600 on first start (docs/certs.md). A node's KEK is
// node/join's.
const KEKFile = "kek.key"

// loadKEK reads the control KEK: the file STRATA_KEK_FILE names, else
// STRATA_KEK, else DATA_DIR/kek.key (created when missing).
func loadKEK(dataDir string) (*keywrap.Keyring, error) {
	if f := os.Getenv("STRATA_KEK_FILE"); f != "" {
		return keywrap.Load(f)
	}
	if os.Getenv(keywrap.EnvVar) != "" {
		return keywrap.Load("")
	}
	return keywrap.LoadOrCreate(filepath.Join(dataDir, KEKFile))
}

// devNodeKEK gives the dev node its partition's node KEK, derived from the
// control KEK in the same data dir (one process, nothing travels).
func devNodeKEK(dataDir string) func(partitionID string) (*keywrap.Keyring, error) {
	return func(partitionID string) (*keywrap.Keyring, error) {
		kek, err := loadKEK(dataDir)
		if err != nil {
			return nil, err
		}
		return certsvc.NodeKeyring(kek, partitionID)
	}
}

// acmeOptions configure managed certificates from the environment:
// STRATA_ACME_DIRECTORY (default Let's Encrypt; "off" disables ACME),
// STRATA_ACME_EMAIL, and STRATA_ACME_EAB_KID / STRATA_ACME_EAB_HMAC for CAs
// that require external account binding (ZeroSSL); DNS-01 from dns and
// dns01Options.
func acmeOptions(dns *dnssvc.Service, devDNS *devDNSAddr) *certsvc.ACMEOptions {
	dir := os.Getenv("STRATA_ACME_DIRECTORY")
	switch dir {
	case "off":
		return nil
	case "":
		dir = "https://acme-v02.api.letsencrypt.org/directory"
	}
	o := &certsvc.ACMEOptions{Directory: dir, Email: os.Getenv("STRATA_ACME_EMAIL"),
		EABKeyID: os.Getenv("STRATA_ACME_EAB_KID"), EABHMACKey: os.Getenv("STRATA_ACME_EAB_HMAC")}
	dns01Options(o, dns)
	if devDNS != nil {
		o.DNS01MoreNameservers = devDNS.servers
	}
	return o
}
