package iam

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	ev "github.com/strata-edge/strata/gen/strata/events/iam/v1"
	iamv1 "github.com/strata-edge/strata/gen/strata/iam/v1"
	"github.com/strata-edge/strata/pkg/validate"
)

// LDAPOptions configure logins against an LDAP directory or Active
// Directory: the service binds with BindDN (or anonymously), finds the user
// with UserFilter, binds as the user with the given password, then reads the
// user's groups and maps them to Strata groups with GroupMap.
//
// A user who logs in through LDAP the first time gets a user record with
// source "ldap" (no password stored). At every login the membership of the
// Strata groups named in GroupMap is brought in line with the directory;
// other groups are left alone.
type LDAPOptions struct {
	// URL is ldap://host:389 or ldaps://host:636.
	URL string
	// StartTLS upgrades an ldap:// connection before binding.
	StartTLS bool
	// TLSConfig for ldaps:// and StartTLS; nil: system roots, host name of URL.
	TLSConfig *tls.Config
	// BindDN and BindPassword of the search account; empty: anonymous.
	BindDN       string
	BindPassword string
	// UserBaseDN is where users are searched (subtree).
	UserBaseDN string
	// UserFilter finds the user; {user} is replaced by the escaped login
	// name. Default "(&(objectClass=inetOrgPerson)(uid={user}))"; Active
	// Directory: "(&(objectClass=user)(sAMAccountName={user}))".
	UserFilter string
	// UserGroupAttribute, when set (Active Directory: "memberOf"), lists the
	// user's group DNs on the user entry; no group search is made.
	UserGroupAttribute string
	// GroupBaseDN and GroupFilter find the user's groups otherwise; {dn} is
	// the user's escaped DN, {user} the login name. Default filter
	// "(&(objectClass=groupOfNames)(member={dn}))".
	GroupBaseDN string
	GroupFilter string
	// GroupMap maps directory groups (by DN or cn, case-insensitive) to
	// Strata group names.
	GroupMap map[string]string
	// DisplayNameAttribute and EmailAttribute fill the user record; defaults
	// "cn" and "mail".
	DisplayNameAttribute string
	EmailAttribute       string
	// Timeout of the connection and each request; default 10s.
	Timeout time.Duration
}

func (o *LDAPOptions) validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return fmt.Errorf("URL %q: want ldap://host:port or ldaps://host:port", o.URL)
	}
	if o.StartTLS && u.Scheme == "ldaps" {
		return errors.New("StartTLS is for ldap:// URLs; ldaps:// is TLS already")
	}
	if o.UserBaseDN == "" {
		return errors.New("UserBaseDN is required")
	}
	if (o.BindDN == "") != (o.BindPassword == "") {
		return errors.New("set both BindDN and BindPassword, or neither (anonymous search)")
	}
	if o.UserFilter == "" {
		o.UserFilter = "(&(objectClass=inetOrgPerson)(uid={user}))"
	}
	if !strings.Contains(o.UserFilter, "{user}") {
		return fmt.Errorf("UserFilter %q must contain {user}", o.UserFilter)
	}
	if o.GroupFilter == "" {
		o.GroupFilter = "(&(objectClass=groupOfNames)(member={dn}))"
	}
	if o.UserGroupAttribute == "" && o.GroupBaseDN == "" && len(o.GroupMap) > 0 {
		return errors.New("GroupMap needs GroupBaseDN (group search) or UserGroupAttribute (e.g. memberOf)")
	}
	for k, v := range o.GroupMap {
		if r := validate.Name(v); r != "" {
			return fmt.Errorf("GroupMap[%q]: Strata group name %s", k, r)
		}
	}
	if o.DisplayNameAttribute == "" {
		o.DisplayNameAttribute = "cn"
	}
	if o.EmailAttribute == "" {
		o.EmailAttribute = "mail"
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	return nil
}

// ldapIdentity is what the directory says about a user who logged in.
type ldapIdentity struct {
	dn, displayName, email string
	groups                 []string // Strata groups, from GroupMap
}

// authenticate checks name and password against the directory. A wrong
// password or an unknown user is errBadCredentials; an unreachable or
// misconfigured directory is another error.
func (o *LDAPOptions) authenticate(name, password string) (ldapIdentity, error) {
	var id ldapIdentity
	if password == "" {
		// An empty password would be an unauthenticated bind, which many
		// servers accept as success.
		return id, errBadCredentials
	}
	conn, err := o.dial()
	if err != nil {
		return id, err
	}
	defer conn.Close()
	if err := o.bindService(conn); err != nil {
		return id, err
	}
	filter := strings.ReplaceAll(o.UserFilter, "{user}", ldap.EscapeFilter(name))
	attrs := []string{o.DisplayNameAttribute, o.EmailAttribute}
	if o.UserGroupAttribute != "" {
		attrs = append(attrs, o.UserGroupAttribute)
	}
	res, err := conn.Search(ldap.NewSearchRequest(o.UserBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, int(o.Timeout/time.Second), false, filter, attrs, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return id, ldapUnavailable("search user", err)
	}
	switch {
	case res == nil || len(res.Entries) == 0:
		return id, errBadCredentials
	case len(res.Entries) > 1:
		return id, ldapUnavailable("search user", fmt.Errorf("UserFilter matches %d entries for %q; it must match one", len(res.Entries), name))
	}
	entry := res.Entries[0]
	id.dn = entry.DN
	id.displayName = entry.GetAttributeValue(o.DisplayNameAttribute)
	id.email = entry.GetAttributeValue(o.EmailAttribute)
	if err := conn.Bind(entry.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return id, errBadCredentials
		}
		return id, ldapUnavailable("bind as user", err)
	}
	var groupDNs []string
	if o.UserGroupAttribute != "" {
		groupDNs = entry.GetAttributeValues(o.UserGroupAttribute)
	} else if o.GroupBaseDN != "" && len(o.GroupMap) > 0 {
		if err := o.bindService(conn); err != nil {
			return id, err
		}
		gf := strings.NewReplacer("{dn}", ldap.EscapeFilter(entry.DN), "{user}", ldap.EscapeFilter(name)).Replace(o.GroupFilter)
		gres, err := conn.Search(ldap.NewSearchRequest(o.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, int(o.Timeout/time.Second), false, gf, []string{"cn"}, nil))
		if err != nil {
			return id, ldapUnavailable("search groups", err)
		}
		for _, g := range gres.Entries {
			groupDNs = append(groupDNs, g.DN)
		}
	}
	id.groups = o.mapGroups(groupDNs)
	return id, nil
}

// mapGroups returns the Strata groups that the directory groups map to.
func (o *LDAPOptions) mapGroups(dns []string) []string {
	var out []string
	for _, dn := range dns {
		cn := ""
		if parsed, err := ldap.ParseDN(dn); err == nil && len(parsed.RDNs) > 0 {
			for _, a := range parsed.RDNs[0].Attributes {
				if strings.EqualFold(a.Type, "cn") {
					cn = a.Value
				}
			}
		}
		for k, v := range o.GroupMap {
			if (strings.EqualFold(k, dn) || (cn != "" && strings.EqualFold(k, cn))) && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (o *LDAPOptions) dial() (*ldap.Conn, error) {
	opts := []ldap.DialOpt{ldap.DialWithDialer(&net.Dialer{Timeout: o.Timeout})}
	if o.TLSConfig != nil {
		opts = append(opts, ldap.DialWithTLSConfig(o.TLSConfig))
	}
	conn, err := ldap.DialURL(o.URL, opts...)
	if err != nil {
		return nil, ldapUnavailable("connect", err)
	}
	conn.SetTimeout(o.Timeout)
	if o.StartTLS {
		cfg := o.TLSConfig
		if cfg == nil {
			u, _ := url.Parse(o.URL)
			cfg = &tls.Config{ServerName: u.Hostname()}
		}
		if err := conn.StartTLS(cfg); err != nil {
			conn.Close()
			return nil, ldapUnavailable("StartTLS", err)
		}
	}
	return conn, nil
}

func (o *LDAPOptions) bindService(conn *ldap.Conn) error {
	if o.BindDN == "" {
		return nil
	}
	if err := conn.Bind(o.BindDN, o.BindPassword); err != nil {
		return ldapUnavailable("bind as "+o.BindDN, err)
	}
	return nil
}

// errLDAPUnavailable marks directory failures (not the user's fault).
var errLDAPUnavailable = errors.New("LDAP directory unavailable")

func ldapUnavailable(step string, err error) error {
	return fmt.Errorf("%w: %s: %w", errLDAPUnavailable, step, err)
}

// provisionLDAPUser creates the user record on first login and aligns the
// membership of mapped groups with the directory.
func (s *Service) provisionLDAPUser(ctx context.Context, name string, id ldapIdentity) error {
	if r := validate.Name(name); r != "" {
		return invalid("user", "the directory accepted this login, but it cannot name a Strata user: "+r)
	}
	display := id.displayName
	if checkText(display, maxDisplayNameLen) != "" {
		display = ""
	}
	email := id.email
	if checkEmail(email) != "" {
		email = ""
	}
	err := s.exec(ctx, actorLDAP, func(st *state) (change, error) {
		if u := st.users[name]; u != nil {
			if u.displayName == display && u.email == email {
				return change{}, nil
			}
			return change{stream: userStream(name), events: msgs(&ev.UserUpdated{Name: name, DisplayName: display, Email: email})}, nil
		}
		return change{stream: userStream(name), events: msgs(&ev.UserCreated{
			Name: name, DisplayName: display, Email: email, Kind: iamv1.UserKind_USER_KIND_HUMAN, Source: sourceLDAP,
		})}, nil
	})
	if err != nil {
		return fmt.Errorf("provision LDAP user %q: %w", name, err)
	}
	managed := map[string]bool{}
	for _, g := range s.ldap.GroupMap {
		managed[g] = true
	}
	for _, g := range sortedKeys(managed) {
		want := slices.Contains(id.groups, g)
		err := s.exec(ctx, actorLDAP, func(st *state) (change, error) {
			grp := st.groups[g]
			if grp == nil {
				if want {
					s.log.Warn("iam: LDAP group maps to a Strata group that does not exist", "group", g, "user", name)
				}
				return change{}, nil
			}
			switch {
			case want && !grp.members[name]:
				return change{stream: groupStream(g), events: msgs(&ev.GroupMembersAdded{Group: g, Users: []string{name}})}, nil
			case !want && grp.members[name]:
				return change{stream: groupStream(g), events: msgs(&ev.GroupMembersRemoved{Group: g, Users: []string{name}})}, nil
			}
			return change{}, nil
		})
		if err != nil {
			return fmt.Errorf("sync LDAP group %q of %q: %w", g, name, err)
		}
	}
	return nil
}

// actorLDAP records changes made by LDAP logins.
const actorLDAP = "ldap"
