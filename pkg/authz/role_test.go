package authz

import (
	"strings"
	"testing"

	"github.com/strata-edge/strata/pkg/apierr"
)

func TestBuiltInRoles(t *testing.T) {
	tests := []struct {
		role, perm string
		want       bool
	}{
		{RoleSuperAdmin, "iam.user.write", true},
		{RoleSuperAdmin, "config.app.write", true},
		{RoleAdmin, "config.app.write", true},
		{RoleAdmin, "config.app.release", true},
		{RoleAdmin, "purge.create", true},
		{RoleAdmin, "iam.user.write", false},
		{RoleAdmin, "iam.grant.read", false},
		{RoleAdmin, PermAuditRead, true},
		{RoleAdmin, PermIAMAuditRead, false},
		{RoleViewer, "config.app.read", true},
		{RoleViewer, "dns.zone.read", true},
		{RoleViewer, "config.app.write", false},
		{RoleViewer, "purge.create", false},
		{RoleViewer, "iam.user.read", false},
		{RoleViewer, "not a permission", false},
	}
	for _, tt := range tests {
		t.Run(tt.role+"/"+tt.perm, func(t *testing.T) {
			r, ok := BuiltInRole(tt.role)
			if !ok {
				t.Fatalf("no built-in role %q", tt.role)
			}
			if got := r.Allows(tt.perm); got != tt.want {
				t.Fatalf("%s.Allows(%q) = %v, want %v", tt.role, tt.perm, got, tt.want)
			}
		})
	}
}

func TestNewRole(t *testing.T) {
	known := DefaultRules().Permissions()
	tests := []struct {
		name      string
		perms     []string
		wantField string
		wantIn    string
	}{
		{name: "valid", perms: []string{"config.app.write", "config.*.read"}},
		{name: "none", perms: nil, wantField: "permissions", wantIn: "at least one"},
		{name: "malformed", perms: []string{"config.app.read", "config.app"}, wantField: "permissions[1]", wantIn: "matches no permission"},
		{name: "bad characters", perms: []string{"config.App.read"}, wantField: "permissions[0]", wantIn: "character 'A'"},
		{name: "typo", perms: []string{"config.app.wirte"}, wantField: "permissions[0]", wantIn: `"config.app.wirte" matches no permission`},
		{name: "duplicate", perms: []string{"config.app.read", "config.app.read"}, wantField: "permissions[1]", wantIn: "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRole("deployers", "", tt.perms, known)
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !r.Allows("config.app.write") || !r.Allows("config.partition.read") || r.Allows("config.partition.write") {
					t.Fatalf("role allows the wrong things: %v", r.Expand(known))
				}
				return
			}
			vs := apierr.Violations(err)
			if len(vs) != 1 || vs[0].Field != tt.wantField || !strings.Contains(vs[0].Reason, tt.wantIn) {
				t.Fatalf("NewRole(%q) error = %v, want field %s with %q", tt.perms, err, tt.wantField, tt.wantIn)
			}
		})
	}
}
