package iam

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/go-ldap/ldap/v3"

	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/testenv"
)

const (
	ldapSuffix = "dc=example,dc=org"
	ldapRootDN = "cn=admin,dc=example,dc=org"
	ldapRootPW = "root-secret-for-tests"
)

// slapd is a real OpenLDAP server started for one test.
type slapd struct {
	url string
}

// startSlapd runs Debian's slapd on a random loopback port with a config and
// database in t.TempDir(), and loads a small directory.
func startSlapd(t *testing.T) *slapd {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		bin = "/usr/sbin/slapd"
		if _, err := os.Stat(bin); err != nil {
			testenv.Missing(t, "slapd is not installed (apt-get install -y slapd): skipping the LDAP tests")
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "slapd.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
database mdb
maxsize 10485760
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
`, dir, ldapSuffix, ldapRootDN, ldapRootPW)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		url := "ldap://127.0.0.1:" + freePort(t)
		var out bytes.Buffer
		cmd := exec.Command(bin, "-f", conf, "-h", url+"/", "-d", "0")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start slapd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		var up bool
		var lastErr error
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && !up {
			select {
			case err := <-exited:
				exited <- err
				deadline = time.Now()
				lastErr = fmt.Errorf("slapd exited: %v\n%s", err, out.String())
				continue
			case <-time.After(20 * time.Millisecond):
			}
			conn, err := ldap.DialURL(url)
			if err != nil {
				lastErr = err
				continue
			}
			conn.Close()
			up = true
		}
		if up {
			s := &slapd{url: url}
			s.load(t)
			return s
		}
		if attempt == 2 {
			t.Fatalf("slapd did not come up: %v", lastErr)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func (s *slapd) root(t *testing.T) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(s.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Bind(ldapRootDN, ldapRootPW); err != nil {
		t.Fatalf("bind as root: %v", err)
	}
	return conn
}

func (s *slapd) load(t *testing.T) {
	conn := s.root(t)
	add := func(dn string, attrs map[string][]string) {
		t.Helper()
		req := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			req.Attribute(k, v)
		}
		if err := conn.Add(req); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
	}
	add(ldapSuffix, map[string][]string{"objectClass": {"dcObject", "organization"}, "dc": {"example"}, "o": {"Example"}})
	add("ou=people,"+ldapSuffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"people"}})
	add("ou=groups,"+ldapSuffix, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"groups"}})
	person := func(uid, cn, pw string) {
		add("uid="+uid+",ou=people,"+ldapSuffix, map[string][]string{
			"objectClass": {"inetOrgPerson"}, "uid": {uid}, "cn": {cn}, "sn": {cn},
			"mail": {uid + "@example.org"}, "userPassword": {pw},
		})
	}
	person("alice", "Alice Liddell", "alice-directory-passphrase")
	person("bob", "Bob Builder", "bob-directory-passphrase")
	person("john.doe", "John Doe", "john-directory-passphrase")
	add("cn=edge-admins,ou=groups,"+ldapSuffix, map[string][]string{
		"objectClass": {"groupOfNames"}, "cn": {"edge-admins"}, "member": {"uid=alice,ou=people," + ldapSuffix},
	})
	add("cn=edge-viewers,ou=groups,"+ldapSuffix, map[string][]string{
		"objectClass": {"groupOfNames"}, "cn": {"edge-viewers"},
		"member": {"uid=alice,ou=people," + ldapSuffix, "uid=bob,ou=people," + ldapSuffix, "uid=john.doe,ou=people," + ldapSuffix},
	})
}

func (s *slapd) options() *LDAPOptions {
	return &LDAPOptions{
		URL: s.url, BindDN: ldapRootDN, BindPassword: ldapRootPW,
		UserBaseDN: "ou=people," + ldapSuffix, GroupBaseDN: "ou=groups," + ldapSuffix,
		GroupMap: map[string]string{
			"edge-admins": "admins",
			"cn=edge-viewers,ou=groups," + ldapSuffix: "viewers",
			"edge-ghosts": "ghosts", // no such Strata group: ignored
		},
		Timeout: 5 * time.Second,
	}
}

func TestLDAPLogin(t *testing.T) {
	dir := startSlapd(t)
	e := newEnv(t, func(o *Options) { o.LDAP = dir.options() })
	for _, g := range []string{"admins", "viewers", "ops"} {
		if _, err := e.admin.CreateGroup(e.ctx, &iamv1.CreateGroupRequest{Name: g}); err != nil {
			t.Fatal(err)
		}
	}
	e.grant(&iamv1.CreateGrantRequest{Group: "admins", Role: "admin", ScopeKind: "all"})
	// bob also exists locally: the local password wins.
	if _, err := e.admin.CreateUser(e.ctx, &iamv1.CreateUserRequest{Name: "bob", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	anon := e.client("")
	login := func(user, pw string) (*iamv1.LoginResponse, error) {
		return anon.Login(e.ctx, &iamv1.LoginRequest{User: user, Password: pw, ReturnToken: true})
	}

	res, err := login("alice", "alice-directory-passphrase")
	if err != nil {
		t.Fatalf("LDAP login: %v", err)
	}
	u := res.User
	if u.Source != "ldap" || u.DisplayName != "Alice Liddell" || u.Email != "alice@example.org" || u.HasPassword ||
		!slices.Equal(u.Groups, []string{"admins", "viewers"}) {
		t.Fatalf("provisioned user = %v", u)
	}
	who, err := e.client(res.Token).WhoAmI(e.ctx, &iamv1.WhoAmIRequest{})
	if err != nil || len(who.Grants) != 1 || who.Grants[0].Role != "admin" {
		t.Fatalf("WhoAmI = %v, %v", who, err)
	}
	// A manual membership of an unmapped group survives logins.
	if _, err := e.admin.AddGroupMembers(e.ctx, &iamv1.AddGroupMembersRequest{Group: "ops", Users: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ name, user, pw string }{
		{"wrong password", "alice", "not-her-passphrase"},
		{"unknown user", "zed", "whatever passphrase"},
		{"filter injection", "al*", "alice-directory-passphrase"},
		{"local user keeps local password", "bob", "bob-directory-passphrase"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := login(c.user, c.pw)
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
	if _, err := login("bob", goodPassword); err != nil {
		t.Fatalf("local bob: %v", err)
	}
	if _, err := login("John.Doe", "john-directory-passphrase"); err != nil {
		t.Fatalf("dotted LDAP name: %v", err)
	}

	// The directory removes alice from edge-admins: next login drops her
	// from "admins", keeps "ops".
	mod := ldap.NewModifyRequest("cn=edge-admins,ou=groups,"+ldapSuffix, nil)
	mod.Replace("member", []string{"uid=bob,ou=people," + ldapSuffix})
	if err := dir.root(t).Modify(mod); err != nil {
		t.Fatal(err)
	}
	res, err = login("alice", "alice-directory-passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.User.Groups, []string{"ops", "viewers"}) {
		t.Fatalf("groups after directory change = %v", res.User.Groups)
	}
	_, err = e.admin.SetUserPassword(e.ctx, &iamv1.SetUserPasswordRequest{Name: "alice", Password: goodPassword})
	if !isCode(err, connect.CodeFailedPrecondition) || !strings.Contains(err.Error(), "managed by the LDAP directory") {
		t.Fatalf("SetUserPassword on LDAP user: %v", err)
	}
	// Disabled in Strata: the directory password no longer gets in.
	if _, err := e.admin.SetUserDisabled(e.ctx, &iamv1.SetUserDisabledRequest{Name: "alice", Disabled: true}); err != nil {
		t.Fatal(err)
	}
	_, err = login("alice", "alice-directory-passphrase")
	wantCode(t, err, connect.CodePermissionDenied)
}

func TestLDAPUnavailable(t *testing.T) {
	opts := &LDAPOptions{URL: "ldap://127.0.0.1:" + freePort(t), UserBaseDN: "ou=people," + ldapSuffix, Timeout: 2 * time.Second}
	e := newEnv(t, func(o *Options) { o.LDAP = opts })
	_, err := e.client("").Login(e.ctx, &iamv1.LoginRequest{User: "alice", Password: "whatever passphrase", ReturnToken: true})
	if !isCode(err, connect.CodeUnavailable) || !strings.Contains(err.Error(), "LDAP directory is unavailable") {
		t.Fatalf("login with the directory down: %v", err)
	}
}

func TestLDAPOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    LDAPOptions
		want string
	}{
		{"bad scheme", LDAPOptions{URL: "http://x", UserBaseDN: "dc=x"}, "want ldap://"},
		{"no base", LDAPOptions{URL: "ldap://x:389"}, "UserBaseDN is required"},
		{"half bind", LDAPOptions{URL: "ldap://x:389", UserBaseDN: "dc=x", BindDN: "cn=a"}, "both BindDN and BindPassword"},
		{"filter without user", LDAPOptions{URL: "ldap://x:389", UserBaseDN: "dc=x", UserFilter: "(uid=bob)"}, "must contain {user}"},
		{"map without groups source", LDAPOptions{URL: "ldap://x:389", UserBaseDN: "dc=x", GroupMap: map[string]string{"a": "b"}}, "GroupMap needs"},
		{"bad strata group", LDAPOptions{URL: "ldap://x:389", UserBaseDN: "dc=x", GroupBaseDN: "dc=x", GroupMap: map[string]string{"a": "B B"}}, "Strata group name"},
		{"starttls on ldaps", LDAPOptions{URL: "ldaps://x:636", UserBaseDN: "dc=x", StartTLS: true}, "StartTLS is for ldap://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.o.validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
