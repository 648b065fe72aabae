package clientx

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ListFlags are the flags every list command shares (docs/api.md,
// "Pagination"): --filter, sent as the request's filter, and --page-size,
// the size of each page. A list command fetches every page.
type ListFlags struct {
	Filter   string
	PageSize int32
}

// Register adds --filter and --page-size to fs.
func (l *ListFlags) Register(fs *pflag.FlagSet) {
	fs.StringVar(&l.Filter, "filter", "", `AIP-160 filter, e.g. 'domains:"*.example.com" AND labels.env = "prod"' (docs/api.md, "Filtering")`)
	fs.Int32Var(&l.PageSize, "page-size", 0, "items per request (0: the server's default, at most 1000); every page is fetched")
}

// maxPages bounds how many pages Pages follows.
const maxPages = 100_000

// Pages is the fn of Call and Show for a List RPC: it sends req (with the
// filter and page size of l, which may be nil) and follows next_page_token
// until the last page, and returns one response holding the items of every
// page (repeated fields appended, next_page_token empty).
func Pages[C any, Req, Res proto.Message](rpc func(C, context.Context, Req) (Res, error), req Req, l *ListFlags) func(context.Context, C) (Res, error) {
	return func(ctx context.Context, c C) (Res, error) {
		var all Res
		token := ""
		for range maxPages {
			r := proto.Clone(req).(Req)
			m := r.ProtoReflect()
			if l != nil {
				setField(m, "filter", l.Filter)
				setField(m, "page_size", l.PageSize)
			}
			setField(m, "page_token", token)
			page, err := rpc(c, ctx, r)
			if err != nil {
				var zero Res
				return zero, err
			}
			pm := page.ProtoReflect()
			next := ""
			if fd := pm.Descriptor().Fields().ByName("next_page_token"); fd != nil {
				next = pm.Get(fd).String()
				pm.Clear(fd)
			}
			if token == "" {
				all = page
			} else {
				proto.Merge(all, page)
			}
			if next == "" {
				return all, nil
			}
			if next == token {
				var zero Res
				return zero, fmt.Errorf("the server returned the same page token twice")
			}
			token = next
		}
		var zero Res
		return zero, fmt.Errorf("more than %d pages", maxPages)
	}
}

// setField sets the named scalar field of m when m has it (a zero value
// leaves it unset).
func setField[V string | int32](m protoreflect.Message, name protoreflect.Name, v V) {
	fd := m.Descriptor().Fields().ByName(name)
	if fd == nil {
		return
	}
	switch x := any(v).(type) {
	case string:
		if fd.Kind() == protoreflect.StringKind && x != "" {
			m.Set(fd, protoreflect.ValueOfString(x))
		}
	case int32:
		if x == 0 {
			return
		}
		switch fd.Kind() {
		case protoreflect.Int32Kind:
			m.Set(fd, protoreflect.ValueOfInt32(x))
		case protoreflect.Uint32Kind:
			m.Set(fd, protoreflect.ValueOfUint32(uint32(x)))
		}
	}
}

// ListCommand is a list command: cmd (without arguments unless it sets Args)
// with --filter and --page-size, running run with them.
func ListCommand(cmd *cobra.Command, run func(cmd *cobra.Command, lf *ListFlags) error) *cobra.Command {
	lf := &ListFlags{}
	if cmd.Args == nil {
		cmd.Args = cobra.NoArgs
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return run(cmd, lf) }
	lf.Register(cmd.Flags())
	return cmd
}
