package authz

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestByIDOrName(t *testing.T) {
	type obj struct{ id, name string }
	objs := []obj{{"n_1", "edge-1"}, {"n_2", "edge-1"}, {"n_3", "edge-3"}, {"n_4", "n_3"}}
	id := func(o obj) string { return o.id }
	name := func(o obj) string { return o.name }
	tests := []struct {
		name, ref string
		want      string
		wantErr   []error
		wantMsg   string
	}{
		{name: "id", ref: "n_2", want: "n_2"},
		{name: "unique name", ref: "edge-3", want: "n_3"},
		{name: "an id wins over a name", ref: "n_3", want: "n_3"},
		{name: "ambiguous", ref: "edge-1", wantErr: []error{ErrAmbiguous, ErrUnknownObject}, wantMsg: `node name "edge-1" is ambiguous, give one of the ids: n_1, n_2`},
		{name: "unknown", ref: "edge-9", wantErr: []error{ErrUnknownObject}, wantMsg: `node "edge-9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ByIDOrName("node", tt.ref, slices.Values(objs), id, name, id)
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if tt.wantErr == nil && (err != nil || got.id != tt.want) {
				t.Errorf("got %v, %v; want %s", got, err, tt.want)
			}
			if tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)) {
				t.Errorf("err = %v, want %q", err, tt.wantMsg)
			}
		})
	}
	if _, err := ByIDOrName("node", "edge-9", slices.Values(objs), id, name, id); errors.Is(err, ErrAmbiguous) {
		t.Error("an unknown name is reported ambiguous")
	}
}
