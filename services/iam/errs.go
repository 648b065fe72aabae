package iam

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/strata-edge/strata/pkg/apierr"
)

func invalid(field, reason string) error {
	return apierr.Invalid(apierr.FieldViolation{Field: field, Reason: reason})
}

// alreadyExists is a duplicate name: code AlreadyExists, with the field in a
// BadRequest detail like other field errors.
func alreadyExists(field, reason string) error {
	ce := connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("%s: %s", field, reason))
	br := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: reason}}}
	if d, err := connect.NewErrorDetail(br); err == nil {
		ce.AddDetail(d)
	}
	return ce
}

func permissionDenied(format string, args ...any) error {
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf(format, args...))
}

func unauthenticated(msg string) error {
	return connect.NewError(connect.CodeUnauthenticated, errors.New(msg))
}
