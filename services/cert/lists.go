package cert

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/pkg/listfilter"
)

// The filterable fields of the cert service's List RPCs (docs/api.md,
// "Filtering"); enums compare their names without the prefix ("ACTIVE").

func tsTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

var certificateSchema = listfilter.Schema[*certv1.Certificate]{
	"id":              listfilter.String((*certv1.Certificate).GetId),
	"name":            listfilter.String((*certv1.Certificate).GetName),
	"domains":         listfilter.Strings((*certv1.Certificate).GetDomains),
	"app_ids":         listfilter.Strings((*certv1.Certificate).GetAppIds),
	"issuer":          listfilter.String((*certv1.Certificate).GetIssuer),
	"serial":          listfilter.String((*certv1.Certificate).GetSerial),
	"managed":         listfilter.Bool((*certv1.Certificate).GetManaged),
	"acme_directory":  listfilter.String((*certv1.Certificate).GetAcmeDirectory),
	"last_error":      listfilter.String((*certv1.Certificate).GetLastError),
	"failed_attempts": listfilter.Number(func(c *certv1.Certificate) float64 { return float64(c.GetFailedAttempts()) }),
	"state": listfilter.String(func(c *certv1.Certificate) string {
		return strings.TrimPrefix(c.GetState().String(), "CERTIFICATE_STATE_")
	}),
	"not_before": listfilter.Time(func(c *certv1.Certificate) time.Time { return tsTime(c.GetNotBefore()) }),
	"not_after":  listfilter.Time(func(c *certv1.Certificate) time.Time { return tsTime(c.GetNotAfter()) }),
	"created_at": listfilter.Time(func(c *certv1.Certificate) time.Time { return tsTime(c.GetCreatedAt()) }),
	"updated_at": listfilter.Time(func(c *certv1.Certificate) time.Time { return tsTime(c.GetUpdatedAt()) }),
}

func certificateKey(c *certv1.Certificate) string { return listfilter.Key(c.GetName(), c.GetId()) }

var acmeAccountSchema = listfilter.Schema[*certv1.AcmeAccount]{
	"directory":        listfilter.String((*certv1.AcmeAccount).GetDirectory),
	"eab_key_id":       listfilter.String((*certv1.AcmeAccount).GetEabKeyId),
	"eab_hmac_key_set": listfilter.Bool((*certv1.AcmeAccount).GetEabHmacKeySet),
	"account_url":      listfilter.String((*certv1.AcmeAccount).GetAccountUrl),
	"updated_at":       listfilter.Time(func(a *certv1.AcmeAccount) time.Time { return tsTime(a.GetUpdatedAt()) }),
}

func acmeAccountKey(a *certv1.AcmeAccount) string { return a.GetDirectory() }
