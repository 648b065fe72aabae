package crsftw

import (
	"strings"
	"testing"
)

const sample = `---
meta:
  author: "test"
rule_id: 942100
tests:
  - test_id: 1
    desc: "SQLi in a form"
    stages:
      - input:
          dest_addr: 127.0.0.1
          headers:
            Host: localhost
            User-Agent: "OWASP CRS test agent"
          method: POST
          port: 80
          uri: "/post"
          data: "var=1234 OR 1=1"
        output:
          log:
            expect_ids: [942100]
  - test_id: 2
    stages:
      - input:
          encoded_request: "R0VUIC8gSFRUUC8xLjANCkhvc3Q6DQoNCg=="
        output:
          log:
            no_expect_ids: [942100]
            match_regex: 'id "9'
  - test_id: 3
    stages:
      - input:
          uri: "/"
        output:
          status: 400
`

func TestParseSample(t *testing.T) {
	cs, err := Parse("REQUEST-942-APPLICATION-ATTACK-SQLI", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("got %d cases, want 3", len(cs))
	}
	c := cs[0]
	if c.Name() != "942100-1" || c.Req.Method != "POST" || c.Req.URI != "/post" || c.Req.Version != "HTTP/1.1" || string(c.Req.Body) != "var=1234 OR 1=1" {
		t.Errorf("case 1: %+v", c)
	}
	if c.Req.Headers[0] != [2]string{"Host", "localhost"} || c.Req.Headers[1][0] != "User-Agent" {
		t.Errorf("headers lost their order: %q", c.Req.Headers)
	}
	if v, _ := c.Req.Header("content-length"); v != "15" {
		t.Errorf("Content-Length = %q, want 15 (autocomplete)", v)
	}
	raw := cs[1].Req
	if raw.Method != "GET" || raw.URI != "/" || raw.Version != "HTTP/1.0" || len(raw.Headers) != 1 || raw.Headers[0][0] != "Host" || raw.Headers[0][1] != "" {
		t.Errorf("encoded request parsed as %+v", raw)
	}
	if cs[2].Want.Checks() {
		t.Error("a status-only stage asks something of the WAF")
	}
	if why := c.Check(Outcome{IDs: []int{942100}}); why != "" {
		t.Errorf("matching outcome failed: %s", why)
	}
	if why := c.Check(Outcome{IDs: []int{941100}}); !strings.Contains(why, "942100 did not match") {
		t.Errorf("missing rule judged %q", why)
	}
	if why := cs[1].Check(Outcome{IDs: []int{942100}, Log: []string{`[id "942100"]`}}); !strings.Contains(why, "942100 matched") {
		t.Errorf("unwanted rule judged %q", why)
	}
	if why := cs[1].Check(Outcome{Log: []string{"nothing"}}); !strings.Contains(why, "log does not match") {
		t.Errorf("log regex judged %q", why)
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"tests:\n  - stages:\n      - input:\n          encoded_request: \"%%%\"\n":            "tests[0].stages[0].input.encoded_request",
		"tests:\n  - stages:\n      - output:\n          log:\n            match_regex: '('\n": "tests[0].stages[0].output.log",
		"tests:\n  - stages:\n      - input:\n          headers: [a, b]\n":                     "headers: want a mapping",
	} {
		if _, err := Parse("x", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error naming %q", in, err, want)
		}
	}
	if _, err := Parse("x", make([]byte, maxFileBytes+1)); err == nil {
		t.Error("an oversized file parsed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("tests: [{stages: [{input: {headers: {a: 1}}}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := Parse("f", data)
		if err != nil {
			return
		}
		for _, c := range cs {
			c.Check(Outcome{})
		}
	})
}

func FuzzParseRaw(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.0\r\nHost:\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nA: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nHi \r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := ParseRaw(raw)
		if err == nil && len(r.Body) > len(raw) {
			t.Fatalf("body longer than the request")
		}
	})
}
