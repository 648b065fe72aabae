package cert

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	ev "github.com/strata-edge/strata/gen/strata/events/cert/v1"
	"github.com/strata-edge/strata/pkg/aggtest"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/eventstore"
)

// givenModel folds certificate events (each on its certificate's stream)
// into a new read model.
func givenModel(events ...proto.Message) *Model {
	m := NewModel()
	aggtest.Given(aggtest.Func(func(pos uint64, msg proto.Message) {
		id := msg.(interface{ GetCertificateId() string }).GetCertificateId()
		m.apply(eventstore.Event{Position: pos, Stream: streamOf(id)}, msg)
	}), events...)
	return m
}

var (
	shopMaterial = &ev.Material{Domains: []string{"shop.example.com", "*.shop.example.com"}, FingerprintSha256: "0123456789abcdef"}
	shopUploaded = &ev.CertificateUploaded{CertificateId: "crt_shop", Name: "shop", Material: shopMaterial}
	shopAttached = &ev.CertificateAttached{CertificateId: "crt_shop", AppId: "app_shop"}
)

// events is the decision's event as a list (none for nil).
func events(msg proto.Message) []proto.Message {
	if msg == nil {
		return nil
	}
	return []proto.Message{msg}
}

// appWith is an app target with domains, counting how often they are read.
func appWith(id string, calls *int, domains ...string) appTarget {
	return appTarget{id: id, ref: id, domains: func() ([]string, error) { *calls++; return domains, nil }}
}

func TestUploadDecision(t *testing.T) {
	m := givenModel(shopUploaded)
	got, err := m.upload("crt_new", "", shopMaterial, []string{"app_a", "app_b"})
	aggtest.Then(t, got, err,
		&ev.CertificateUploaded{CertificateId: "crt_new", Name: "shop.example.com-01234567", Material: shopMaterial},
		&ev.CertificateAttached{CertificateId: "crt_new", AppId: "app_a"},
		&ev.CertificateAttached{CertificateId: "crt_new", AppId: "app_b"})
	got, err = m.upload("crt_new", "shop", shopMaterial, nil)
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "name")
	// A deleted certificate's name is free again.
	m = givenModel(shopUploaded, &ev.CertificateDeleted{CertificateId: "crt_shop"})
	got, err = m.upload("crt_new", "shop", shopMaterial, nil)
	aggtest.Then(t, got, err, &ev.CertificateUploaded{CertificateId: "crt_new", Name: "shop", Material: shopMaterial})
}

func TestRequestDecision(t *testing.T) {
	req := &certv1.RequestCertificateRequest{AppId: "shop", Domains: []string{"Shop.Example.COM.", "*.shop.example.com"}, AcmeDirectory: "https://ca/dir"}
	domains, err := requestDomains(req)
	if err != nil || len(domains) != 2 || domains[0] != "shop.example.com" {
		t.Fatalf("domains %v, %v: want them normalized", domains, err)
	}
	m := givenModel(shopUploaded)
	got, err := m.request("crt_new", req, domains, certv1.ChallengeType_CHALLENGE_TYPE_DNS_01, "app_shop")
	aggtest.Then(t, got, err,
		&ev.CertificateRequested{CertificateId: "crt_new", Name: "shop.example.com-acme", Domains: domains,
			AcmeDirectory: "https://ca/dir", Challenge: certv1.ChallengeType_CHALLENGE_TYPE_DNS_01},
		&ev.CertificateAttached{CertificateId: "crt_new", AppId: "app_shop"})
	got, err = m.request("crt_new", &certv1.RequestCertificateRequest{Name: "shop"}, domains, 0, "app_shop")
	aggtest.Rejected(t, got, err, apierr.KindInvalid, "name")

	_, err = requestDomains(&certv1.RequestCertificateRequest{})
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "app_id")
	aggtest.Violation(t, err, "domains", "at least one")
	_, err = requestDomains(&certv1.RequestCertificateRequest{AppId: "shop", Domains: []string{"shop.example.com", "no spaces.example.com"}})
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "domains[1]")
}

func TestAttachDecision(t *testing.T) {
	var calls int
	m := givenModel(shopUploaded)
	r, got, err := m.attach("shop", appWith("app_shop", &calls, "www.shop.example.com"), true) // by name, wildcard covers
	aggtest.Then(t, events(got), err, shopAttached)
	if r.version != 1 {
		t.Fatalf("attach against version %d, want 1", r.version)
	}
	_, got, err = m.attach("crt_shop", appWith("app_blog", &calls, "blog.example.com", "example.com"), true)
	aggtest.Rejected(t, events(got), err, apierr.KindInvalid, "certificate")
	aggtest.Violation(t, err, "certificate", "none of the domains of app")
	_, got, err = m.attach("crt_shop", appTarget{id: "app_blog", ref: "blog"}, true) // forced: domains unchecked
	aggtest.Then(t, events(got), err, &ev.CertificateAttached{CertificateId: "crt_shop", AppId: "app_blog"})
	lookupErr := errors.New("config unavailable")
	_, got, err = m.attach("crt_shop", appTarget{id: "app_blog", domains: func() ([]string, error) { return nil, lookupErr }}, true)
	if !errors.Is(err, lookupErr) || got != nil {
		t.Fatalf("attach when the app's domains cannot be read: %v %v, want the lookup error", got, err)
	}
	_, got, err = m.attach("crt_shop", appTarget{id: "app_shop"}, false)
	aggtest.Then(t, events(got), err) // not attached: nothing to detach
	_, got, err = m.attach("", appTarget{id: "app_shop"}, true)
	aggtest.Rejected(t, events(got), err, apierr.KindInvalid, "certificate")
	_, got, err = m.attach("crt_gone", appTarget{id: "app_shop"}, false)
	aggtest.Rejected(t, events(got), err, apierr.KindNotFound, "")

	m = givenModel(shopUploaded, shopAttached)
	calls = 0
	_, got, err = m.attach("crt_shop", appWith("app_shop", &calls), true)
	aggtest.Then(t, events(got), err) // attached already
	if calls != 0 {
		t.Fatalf("an attachment that changes nothing read the app's domains %d times", calls)
	}
	_, got, err = m.attach("crt_shop", appTarget{id: "app_shop"}, false)
	aggtest.Then(t, events(got), err, &ev.CertificateDetached{CertificateId: "crt_shop", AppId: "app_shop"})
}

func TestDeleteDecision(t *testing.T) {
	m := givenModel(shopUploaded, shopAttached)
	r, got, err := m.delete("shop")
	aggtest.Then(t, events(got), err, &ev.CertificateDeleted{CertificateId: "crt_shop"})
	if r.version != 2 {
		t.Fatalf("delete against version %d, want 2", r.version)
	}
	_, _, err = m.delete("")
	aggtest.Rejected(t, nil, err, apierr.KindInvalid, "certificate")
	m = givenModel(shopUploaded, &ev.CertificateDeleted{CertificateId: "crt_shop"})
	_, _, err = m.delete("crt_shop")
	aggtest.Rejected(t, nil, err, apierr.KindNotFound, "")
}
