package crsftw

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	wafv1 "github.com/strata-edge/strata/gen/strata/waf/v1"
)

// BenignCase is one request of the false-positive corpus: real-looking traffic that a
// WAF at paranoia level 1 with the default thresholds must let through.
type BenignCase struct {
	Name string
	Req  Request
}

var browser = [][2]string{
	{"User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"},
	{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
	{"Accept-Language", "en-GB,en;q=0.9,de;q=0.7"},
	{"Accept-Encoding", "gzip, deflate, br"},
	{"Cookie", "_ga=GA1.2.1418261927.1733390000; session=eyJ1aWQiOjQyfQ.Z1Qb9w.abc123; theme=dark; consent=analytics%3Dno%26ads%3Dno"},
}

var apiClient = [][2]string{
	{"User-Agent", "acme-sdk-go/2.4.1 (linux; amd64) go1.26"},
	{"Accept", "application/json"},
	{"Authorization", "Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfMTIzIiwic2NvcGUiOiJvcmRlcnM6d3JpdGUiLCJleHAiOjE3MzM1MDAwMDB9.c2lnbmF0dXJlLWJ5dGVz"},
	{"X-Request-Id", "5b0f0c9e-6a3e-4e43-9a0b-2f6cf2b7d1e4"},
}

func req(method, uri string, hs [][2]string, ctype string, body []byte) Request {
	h := append([][2]string{{"Host", "shop.example.com"}}, hs...)
	if body != nil {
		h = append(h, [2]string{"Content-Type", ctype}, [2]string{"Content-Length", strconv.Itoa(len(body))})
	}
	return Request{Method: method, URI: uri, Version: "HTTP/1.1", Headers: h, Body: body}
}

func form(v url.Values) []byte { return []byte(v.Encode()) }

func upload(field, filename, ctype string, content []byte, extra map[string]string) (string, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range extra {
		_ = w.WriteField(k, v)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	h.Set("Content-Type", ctype)
	p, _ := w.CreatePart(h)
	_, _ = p.Write(content)
	_ = w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// Benign is the false-positive corpus.
func Benign() []BenignCase {
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"), bytes.Repeat([]byte{0x1f, 0x8b, 0x00, 0xff, 0x7a}, 200)...)
	pngType, pngBody := upload("avatar", "me.png", "image/png", png, map[string]string{"alt": "My new profile picture"})
	csvType, csvBody := upload("file", "contacts.csv", "text/csv", []byte("name,email,company\nAda Lovelace,ada@example.com,Analytical Engines Ltd\nGrace Hopper,grace@example.org,US Navy\n"), nil)
	pdfType, pdfBody := upload("invoice", "INV-2024-0042.pdf", "application/pdf", []byte("%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"), map[string]string{"note": "March invoice, paid by bank transfer"})
	return []BenignCase{
		{"home page", req("GET", "/", browser, "", nil)},
		{"static asset", req("GET", "/assets/app.4f3c2a1b.js", browser, "", nil)},
		{"product listing with filters", req("GET", "/products?category=shirts&size=M&color=navy+blue&sort=price_asc&page=3", browser, "", nil)},
		{"search with apostrophe", req("GET", "/search?q=O%27Reilly+books+about+Go", browser, "", nil)},
		{"search with quotes", req("GET", "/search?q=%22New+York%22+hotels+near+Central+Park", browser, "", nil)},
		{"utm campaign link", req("GET", "/landing/spring-sale?utm_source=newsletter&utm_medium=email&utm_campaign=spring_2024&utm_content=hero-button", browser, "", nil)},
		{"redirect after login", req("GET", "/login?next=%2Faccount%2Forders%3Fpage%3D2", browser, "", nil)},
		{"oauth callback", req("GET", "/oauth/callback?code=4%2F0AX4XfWh-xyz_ABC123&state=af0ifjsldkj&scope=email+profile+openid", browser, "", nil)},
		{"login form", req("POST", "/login", browser, "application/x-www-form-urlencoded", form(url.Values{"email": {"ada@example.com"}, "password": {"c0rrect-h0rse-Battery!"}, "remember": {"on"}}))},
		{"signup form", req("POST", "/signup", browser, "application/x-www-form-urlencoded", form(url.Values{"first_name": {"Zoë"}, "last_name": {"Ó Briain"}, "email": {"zoe.obriain@example.ie"}, "phone": {"+353 1 234 5678"}, "country": {"IE"}}))},
		{"contact form", req("POST", "/contact", browser, "application/x-www-form-urlencoded", form(url.Values{"name": {"Jean-Luc"}, "subject": {"Question about my order #1042"}, "message": {"Hello! I ordered two mugs last week (order #1042) but only one arrived. Could you check, please? Thanks a lot - Jean-Luc"}}))},
		{"address form", req("POST", "/checkout/address", browser, "application/x-www-form-urlencoded", form(url.Values{"street": {"221B Baker Street"}, "city": {"London"}, "postcode": {"NW1 6XE"}, "instructions": {"Ring twice; leave with the neighbour at no. 223 if nobody answers."}}))},
		{"json create order", req("POST", "/api/v1/orders", apiClient, "application/json", []byte(`{"customer_id":"cus_9f8e7d","currency":"EUR","items":[{"sku":"MUG-001","qty":2,"unit_price":"12.50"},{"sku":"TEE-042","qty":1,"unit_price":"24.00"}],"shipping":{"method":"standard","address":{"line1":"Hauptstraße 5","city":"Berlin","zip":"10115","country":"DE"}},"metadata":{"source":"mobile-app","version":"5.2.0"}}`))},
		{"json update profile", req("PATCH", "/api/v1/users/usr_123", apiClient, "application/json", []byte(`{"display_name":"Ada L.","bio":"Writes about engines, numbers & poetry.","website":"https://ada.example.com/blog","timezone":"Europe/London","notifications":{"email":true,"sms":false}}`))},
		{"json delete", req("DELETE", "/api/v1/carts/cart_77/items/MUG-001", apiClient, "", nil)},
		{"json put settings", req("PUT", "/api/v1/settings", apiClient, "application/json", []byte(`{"language":"fr-FR","currency":"CHF","dark_mode":true,"favorite_categories":["books","garden","kitchen"]}`))},
		{"webhook event", req("POST", "/webhooks/payments", [][2]string{{"User-Agent", "PaymentsWebhooks/1.0"}, {"X-Signature", "t=1733390000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"}}, "application/json", []byte(`{"id":"evt_1Nq","type":"payment_intent.succeeded","created":1733390000,"data":{"object":{"id":"pi_3Nq","amount":4900,"currency":"eur","status":"succeeded","description":"Order #1042","receipt_email":"ada@example.com"}}}`))},
		{"json with html-free markdown", req("POST", "/api/v1/posts/12/comments", apiClient, "application/json", []byte(`{"body":"Great write-up! **Two** things:\n\n1. The link to part 2 is broken.\n2. Could you add a table of contents?\n\nCheers,\nSam"}`))},
		{"json 4 KiB order", req("POST", "/api/v1/orders/bulk", apiClient, "application/json", []byte(bigJSON(4096)))},
		{"xml feed", req("POST", "/api/v1/inventory", apiClient, "application/xml", []byte(`<?xml version="1.0" encoding="UTF-8"?><inventory><item sku="MUG-001"><qty>120</qty><warehouse>Leeds</warehouse></item><item sku="TEE-042"><qty>35</qty><warehouse>Lyon</warehouse></item></inventory>`))},
		{"image upload", req("POST", "/account/avatar", browser, pngType, pngBody)},
		{"csv upload", req("POST", "/contacts/import", browser, csvType, csvBody)},
		{"pdf upload", req("POST", "/billing/invoices", browser, pdfType, pdfBody)},
		{"cors preflight", req("OPTIONS", "/api/v1/orders", [][2]string{{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "POST"}, {"Access-Control-Request-Headers", "authorization,content-type"}}, "", nil)},
		{"head health check", req("HEAD", "/healthz", [][2]string{{"User-Agent", "kube-probe/1.31"}}, "", nil)},
		{"conditional get", req("GET", "/api/v1/catalog?locale=en-US", append(slicesClone(apiClient), [2]string{"If-None-Match", `W/"5e-1a2b3c"`}, [2]string{"If-Modified-Since", "Wed, 04 Dec 2024 10:00:00 GMT"}), "", nil)},
		{"email in query", req("GET", "/newsletter/unsubscribe?email=first.last%2Bnews%40example.co.uk&token=9c1d7e", browser, "", nil)},
		{"url in query", req("GET", "/share?url=https%3A%2F%2Fexample.com%2Fblog%2Fhello-world%3Fref%3Dtwitter&title=Hello%2C+world", browser, "", nil)},
		{"date range report", req("GET", "/api/v1/reports/sales?from=2024-01-01T00:00:00Z&to=2024-03-31T23:59:59Z&group_by=week&tz=America%2FNew_York", apiClient, "", nil)},
	}
}

// KnownFalsePositive is a benign request CRS v4 blocks at paranoia level 1, with the
// policy exclusion that lets it through.
type KnownFalsePositive struct {
	BenignCase
	Exclusion *wafv1.RuleExclusion
}

// KnownFalsePositives are the benign requests of the corpus CRS blocks at PL1 with the
// default thresholds: a GraphQL query ($variables and braces read as shell and NoSQL
// injection) and a navigator.sendBeacon call (text/plain is not an allowed request
// content type).
func KnownFalsePositives() []KnownFalsePositive {
	return []KnownFalsePositive{
		{BenignCase{"graphql query", req("POST", "/graphql", apiClient, "application/json", []byte(`{"operationName":"ProductPage","variables":{"slug":"blue-cotton-shirt","first":10},"query":"query ProductPage($slug: String!, $first: Int) { product(slug: $slug) { id name price { amount currency } reviews(first: $first) { edges { node { rating title } } } } }"}`))},
			&wafv1.RuleExclusion{PathPrefixes: []string{"/graphql"}, RuleIds: []string{"932235", "942290"}, Targets: []string{"ARGS:json.query"}}},
		{BenignCase{"analytics beacon", req("POST", "/collect", browser, "text/plain;charset=UTF-8", []byte(`{"event":"page_view","path":"/products/blue-cotton-shirt","referrer":"https://www.google.com/","screen":"1440x900","ts":1733390000123}`))},
			&wafv1.RuleExclusion{PathPrefixes: []string{"/collect"}, RuleIds: []string{"920420"}}},
	}
}

func slicesClone(h [][2]string) [][2]string { return append([][2]string(nil), h...) }

func bigJSON(size int) string {
	var b strings.Builder
	b.WriteString(`{"orders":[`)
	for i := 0; b.Len() < size-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"ref":"PO-%04d","sku":"SKU-%05d","title":"Blue cotton shirt, size M","qty":%d,"price":"19.99"}`, i, i*7, i%5+1)
	}
	b.WriteString(`],"note":"Leave at the back door, please."}`)
	return b.String()
}
