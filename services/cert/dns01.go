package cert

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// DNS-01 (RFC 8555 section 8.4): the cert service publishes each pending
// TXT value to natsutil.ACMEDNS01Bucket; every edge node watches the bucket
// and answers _acme-challenge.<domain> TXT from memory (node/dns
// challenge.go), so the CA's query succeeds whichever nameserver it asks.

// Zones tells the cert service which DNS zones the edge nodes serve, so that
// DNS-01 is used only where they can answer. internal/stack wires the DNS
// service's released zones.
type Zones interface {
	// ServedZones returns the origins of the released zones, lower-case
	// (a trailing dot is ignored).
	ServedZones(ctx context.Context) ([]string, error)
}

const (
	dns01Label = "_acme-challenge."
	// dns01DefaultWait is how long the issuer lets a value reach the nodes
	// when ACMEOptions.DNS01Nameservers names none to check: a watch delivers
	// it in milliseconds, remote leaf links add little.
	dns01DefaultWait = 2 * time.Second
)

// challengeFor resolves the challenge of a request for domains (valid,
// normalized): unspecified means HTTP-01, or DNS-01 when a domain is a
// wildcard. DNS-01 needs every domain inside a served zone.
func (s *Service) challengeFor(ctx context.Context, requested certv1.ChallengeType, domains []string) (certv1.ChallengeType, error) {
	wildcard := -1
	for i, d := range domains {
		if strings.HasPrefix(d, "*.") {
			wildcard = i
			break
		}
	}
	ch := requested
	switch requested {
	case certv1.ChallengeType_CHALLENGE_TYPE_UNSPECIFIED:
		ch = certv1.ChallengeType_CHALLENGE_TYPE_HTTP_01
		if wildcard >= 0 {
			ch = certv1.ChallengeType_CHALLENGE_TYPE_DNS_01
		}
	case certv1.ChallengeType_CHALLENGE_TYPE_HTTP_01:
		if wildcard >= 0 {
			return 0, apierr.Invalid(apierr.FieldViolation{Field: fmt.Sprintf("domains[%d]", wildcard),
				Reason: "a wildcard can only be validated with DNS-01 (challenge dns-01)"})
		}
	case certv1.ChallengeType_CHALLENGE_TYPE_DNS_01:
	default:
		return 0, apierr.Invalid(apierr.FieldViolation{Field: "challenge", Reason: fmt.Sprintf("unknown challenge type %d", requested)})
	}
	if ch != certv1.ChallengeType_CHALLENGE_TYPE_DNS_01 {
		return ch, nil
	}
	outside, err := s.outsideZones(ctx, domains)
	if err != nil {
		return 0, err
	}
	var vs []apierr.FieldViolation
	for _, i := range outside {
		vs = append(vs, apierr.FieldViolation{Field: fmt.Sprintf("domains[%d]", i), Reason: fmt.Sprintf(
			"%s is not inside a DNS zone Strata serves: DNS-01 needs the edge nodes to answer %s%s (create and release the zone first, or use http-01)",
			domains[i], dns01Label, strings.TrimPrefix(domains[i], "*."))})
	}
	if len(vs) > 0 {
		return 0, apierr.Invalid(vs...)
	}
	return ch, nil
}

// outsideZones returns the indexes of the domains in no served zone.
func (s *Service) outsideZones(ctx context.Context, domains []string) ([]int, error) {
	var zones []string
	if s.acmeO != nil && s.acmeO.Zones != nil {
		var err error
		if zones, err = s.acmeO.Zones.ServedZones(ctx); err != nil {
			return nil, fmt.Errorf("list served DNS zones: %w", err)
		}
	}
	var out []int
	for i, d := range domains {
		if !inZones(strings.TrimPrefix(d, "*."), zones) {
			out = append(out, i)
		}
	}
	return out, nil
}

func inZones(name string, zones []string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, z := range zones {
		z = strings.ToLower(strings.TrimSuffix(z, "."))
		if z != "" && (name == z || strings.HasSuffix(name, "."+z)) {
			return true
		}
	}
	return false
}

// orderClient is the lego client an order of c goes through: the DNS-01
// one (after checking the zones are still served) or the HTTP-01 one.
func (is *issuer) orderClient(ctx context.Context, c *certv1.Certificate) (*lego.Client, error) {
	if c.Challenge != certv1.ChallengeType_CHALLENGE_TYPE_DNS_01 {
		return is.client(ctx, c.AcmeDirectory)
	}
	outside, err := is.s.outsideZones(ctx, c.Domains)
	if err != nil {
		return nil, err
	}
	if len(outside) > 0 {
		return nil, fmt.Errorf("DNS-01: %s is not inside a DNS zone Strata serves", c.Domains[outside[0]])
	}
	return is.dnsClient(ctx, c.AcmeDirectory)
}

// dnsClient returns the DNS-01 lego client of directory: the same account
// as client's, with only the DNS-01 solver, so lego never picks HTTP-01.
func (is *issuer) dnsClient(ctx context.Context, directory string) (*lego.Client, error) {
	if _, err := is.client(ctx, directory); err != nil { // registers the account once
		return nil, err
	}
	if directory == "" {
		directory = is.o.Directory
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if c, ok := is.dnsClients[directory]; ok {
		return c, nil
	}
	user, err := is.account(ctx, directory)
	if err != nil {
		return nil, err
	}
	if user.reg == nil {
		return nil, fmt.Errorf("ACME account at %s not stored yet", directory)
	}
	c, err := is.newClient(user, directory, func(c *lego.Client) error {
		return c.Challenge.SetDNS01Provider(txtProvider{is.dns01}, dns01.WrapPreCheck(is.propagated))
	})
	if err != nil {
		return nil, err
	}
	is.dnsClients[directory] = c
	return c, nil
}

// propagated is the DNS-01 check before the CA is asked to validate: every
// nameserver in ACMEOptions.DNS01Nameservers and DNS01MoreNameservers
// answers the value, or, when none is named, DNS01Wait has passed. lego's
// own check would ask the public recursive resolvers, which know nothing of
// a zone before it is delegated.
func (is *issuer) propagated(ctx context.Context, domain, _, value string, _ dns01.PreCheckFunc) (bool, error) {
	servers := is.o.DNS01Nameservers
	if is.o.DNS01MoreNameservers != nil {
		servers = append(slices.Clip(servers), is.o.DNS01MoreNameservers()...)
	}
	if len(servers) == 0 {
		wait := is.o.DNS01Wait
		if wait <= 0 {
			wait = dns01DefaultWait
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
			return true, nil
		}
	}
	name := dns.Fqdn(dns01Label + strings.TrimPrefix(domain, "*."))
	q := new(dns.Msg).SetQuestion(name, dns.TypeTXT)
	q.RecursionDesired = false
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, ns := range servers {
		r, _, err := c.ExchangeContext(ctx, q, ns)
		if err != nil {
			is.s.logger.Debug("cert: DNS-01 check", "nameserver", ns, "name", name, "err", err)
			return false, nil
		}
		if !hasTXT(r, value) {
			return false, nil
		}
	}
	return true, nil
}

func hasTXT(r *dns.Msg, value string) bool {
	for _, rr := range r.Answer {
		if t, ok := rr.(*dns.TXT); ok && strings.Join(t.Txt, "") == value {
			return true
		}
	}
	return false
}

// openDNS01Bucket makes the challenge bucket; it exists from the issuer's
// start, so nodes bind their watch before the first order.
func openDNS01Bucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: natsutil.ACMEDNS01Bucket,
		TTL: time.Hour, Storage: jetstream.FileStorage, Replicas: replicas}) // TTL: node/acme.DNS01MaxAge
	if err != nil {
		return nil, fmt.Errorf("cert: DNS-01 challenge bucket: %w", err)
	}
	return kv, nil
}

// txtProvider publishes DNS-01 values to the nodes through KV, one key per
// challenge token, so a wildcard and its apex hold two values on one name.
type txtProvider struct{ kv jetstream.KeyValue }

// dns01Key is "_acme-challenge.<domain>.<token>"; tokens are base64url,
// without dots, as KV keys allow.
func dns01Key(domain, token string) string {
	return dns01Label + strings.ToLower(strings.TrimSuffix(domain, ".")) + "." + token
}

// dns01Value is the TXT value of a key authorization: base64url(SHA-256).
func dns01Value(keyAuth string) string {
	h := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (p txtProvider) Present(ctx context.Context, domain, token, keyAuth string) error {
	if _, err := p.kv.Put(ctx, dns01Key(domain, token), []byte(dns01Value(keyAuth))); err != nil {
		return fmt.Errorf("publish DNS-01 value: %w", err)
	}
	return nil
}

func (p txtProvider) CleanUp(ctx context.Context, domain, token, _ string) error {
	if err := p.kv.Delete(ctx, dns01Key(domain, token)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove DNS-01 value: %w", err)
	}
	return nil
}

// Timeout bounds the propagation check and sets its polling interval (lego
// also waits one interval before the first check).
func (p txtProvider) Timeout() (timeout, interval time.Duration) {
	return 30 * time.Second, 100 * time.Millisecond
}
