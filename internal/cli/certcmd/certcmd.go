// Package certcmd is the command line of TLS certificates: strata cert
// upload, list, show, delete, attach, detach, request, revoke and
// acme-account. The root command adds Commands(factory) to itself.
package certcmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certv1 "github.com/strata-edge/strata/gen/strata/cert/v1"
	"github.com/strata-edge/strata/gen/strata/cert/v1/certv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// ClientFactory is what the root command provides.
type ClientFactory interface {
	clientx.Env
	// CertClient returns a CertService client for --api, authenticated
	// like every other command.
	CertClient() (certv1connect.CertServiceClient, error)
	// AppNames maps app ids to names for tables (empty when the apps
	// cannot be listed: the table then shows ids).
	AppNames(ctx context.Context) map[string]string
}

// Commands returns the top-level "cert" command.
func Commands(f ClientFactory) []*cobra.Command {
	c := &cobra.Command{Use: "cert", Short: "TLS certificates: upload, ACME requests, attach to apps"}
	c.AddCommand(uploadCmd(f), listCmd(f), showCmd(f), deleteCmd(f), attachCmd(f, true), attachCmd(f, false), requestCmd(f), revokeCmd(f), acmeAccountCmd(f))
	return []*cobra.Command{c}
}

func call[T any](cmd *cobra.Command, f ClientFactory, fn func(context.Context, certv1connect.CertServiceClient) (T, error)) (T, error) {
	return clientx.Call(cmd.Context(), f, f.CertClient, fn)
}

// show makes one call and prints its answer (text for people, or -o json).
func show[T proto.Message](cmd *cobra.Command, f ClientFactory, fn func(context.Context, certv1connect.CertServiceClient) (T, error), text func(io.Writer, T) error) error {
	return clientx.Show(cmd.Context(), f, f.CertClient, fn, text)
}

func uploadCmd(f ClientFactory) *cobra.Command {
	var certFile, keyFile, name string
	var apps []string
	var systemRoots, force bool
	cmd := &cobra.Command{
		Use:   "upload --cert FULLCHAIN.pem --key KEY.pem [--name N] [--app APP]...",
		Short: "Upload a certificate chain and its private key (validated; the key is stored encrypted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" || keyFile == "" {
				return fmt.Errorf("--cert and --key: both required")
			}
			chain, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			key, err := secretfile.Read(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			res, err := call(cmd, f, clientx.RPC(certv1connect.CertServiceClient.UploadCertificate, &certv1.UploadCertificateRequest{Name: name, ChainPem: string(chain), KeyPem: string(key), SystemRoots: systemRoots, AppIds: apps, Force: force}))
			clear(key)
			if err != nil {
				return err
			}
			return clientx.Emitf(f, res, "%s", res.GetCertificate().GetId())
		},
	}
	cmd.Flags().StringVar(&certFile, "cert", "", "PEM file: leaf first, then intermediates")
	cmd.Flags().StringVar(&keyFile, "key", "", "PEM file of the private key")
	cmd.Flags().StringVar(&name, "name", "", "certificate name (default: first domain and fingerprint)")
	cmd.Flags().StringSliceVar(&apps, "app", nil, "attach to this app (id or name; repeatable)")
	cmd.Flags().BoolVar(&systemRoots, "system-roots", false, "accept chains ending at a root in the system trust store")
	cmd.Flags().BoolVar(&force, "force", false, "attach with --app even when the certificate names none of the app's domains")
	return cmd
}

func listCmd(f ClientFactory) *cobra.Command {
	var app string
	cmd := clientx.ListCommand(&cobra.Command{
		Use:   "list [--app APP]",
		Short: "List certificates",
	}, func(cmd *cobra.Command, lf *clientx.ListFlags) error {
		return show(cmd, f, clientx.Pages(certv1connect.CertServiceClient.ListCertificates, &certv1.ListCertificatesRequest{AppId: app}, lf), func(w io.Writer, res *certv1.ListCertificatesResponse) error {
			names := f.AppNames(cmd.Context())
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tDOMAINS\tEXPIRES\tSTATE\tAPPS\tLAST-ERROR")
			for _, c := range res.Certificates {
				apps := make([]string, len(c.AppIds))
				for i, id := range c.AppIds {
					apps[i] = clientx.NameOr(names, id)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Id, c.Name, strings.Join(c.Domains, ","), date(c.NotAfter), state(c),
					clientx.OrDash(strings.Join(apps, ",")), lastError(c))
			}
			return tw.Flush()
		})
	})
	cmd.Flags().StringVar(&app, "app", "", "only certificates attached to this app (id or name)")
	return cmd
}

func showCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID|NAME",
		Short: "Show a certificate (never its key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := call(cmd, f, clientx.RPC(certv1connect.CertServiceClient.GetCertificate, &certv1.GetCertificateRequest{Certificate: args[0]}))
			if err != nil {
				return err
			}
			return clientx.Emit(f, res.Certificate, func(w io.Writer) error { return printCert(w, res.Certificate) })
		},
	}
}

func deleteCmd(f ClientFactory) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|NAME",
		Short: "Delete a certificate; nodes stop serving it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(cmd, f, clientx.RPC(certv1connect.CertServiceClient.DeleteCertificate, &certv1.DeleteCertificateRequest{Certificate: args[0]}), func(w io.Writer, res *certv1.DeleteCertificateResponse) error {
				return clientx.Line(w, "deleted %s", args[0])
			})
		},
	}
}

func attachCmd(f ClientFactory, attach bool) *cobra.Command {
	var app string
	var force bool
	use, short := "attach", "Attach a certificate to an app: its nodes serve it by SNI"
	if !attach {
		use, short = "detach", "Detach a certificate from an app"
	}
	cmd := &cobra.Command{
		Use:   use + " ID|NAME --app APP",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if app == "" {
				return fmt.Errorf("--app: required")
			}
			res, err := call(cmd, f, func(ctx context.Context, c certv1connect.CertServiceClient) (*certv1.Certificate, error) {
				if attach {
					r, err := c.AttachCertificate(ctx, &certv1.AttachCertificateRequest{Certificate: args[0], AppId: app, Force: force})
					return r.GetCertificate(), err
				}
				r, err := c.DetachCertificate(ctx, &certv1.DetachCertificateRequest{Certificate: args[0], AppId: app})
				return r.GetCertificate(), err
			})
			if err != nil {
				return err
			}
			verb := map[bool]string{true: "attached certificate %s (%s) to app %s", false: "detached certificate %s (%s) from app %s"}[attach]
			return clientx.Emitf(f, res, verb, res.GetName(), res.GetId(), app)
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app id or name")
	if attach {
		cmd.Long = "Attach a certificate to an app: its nodes serve it by SNI for the app's domains.\nRefused when the certificate names none of the app's domains (the error names both), unless --force."
		cmd.Flags().BoolVar(&force, "force", false, "attach even when the certificate names none of the app's domains")
	}
	return cmd
}

// challenges are the --challenge values.
var challenges = map[string]certv1.ChallengeType{
	"":        certv1.ChallengeType_CHALLENGE_TYPE_UNSPECIFIED,
	"http-01": certv1.ChallengeType_CHALLENGE_TYPE_HTTP_01,
	"dns-01":  certv1.ChallengeType_CHALLENGE_TYPE_DNS_01,
}

func requestCmd(f ClientFactory) *cobra.Command {
	var app, directory, name, challenge string
	var domains []string
	var force bool
	cmd := &cobra.Command{
		Use:   "request --app APP --domain D [--domain D]... [--challenge http-01|dns-01] [--directory URL]",
		Short: "Request a managed certificate from an ACME CA (HTTP-01 or DNS-01 answered by the edge nodes), renewed automatically",
		Long: `Request a managed certificate from an ACME CA, renewed automatically.

The edge nodes answer the CA's challenge: HTTP-01 on their plain HTTP
listener (the default), or DNS-01 as the authoritative DNS servers of the
domain's zone (the default for wildcards, which need it). DNS-01 needs every
domain inside a zone Strata serves, e.g.:

  strata cert request --app APP --domain '*.example.com' --domain example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ch, ok := challenges[strings.ToLower(challenge)]
			if !ok {
				return fmt.Errorf("--challenge %q: want http-01 or dns-01", challenge)
			}
			return show(cmd, f, clientx.RPC(certv1connect.CertServiceClient.RequestCertificate, &certv1.RequestCertificateRequest{AppId: app, Domains: domains, AcmeDirectory: directory, Name: name,
				Challenge: ch, Force: force}), func(w io.Writer, res *certv1.RequestCertificateResponse) error {
				return clientx.Line(w, "%s", res.GetCertificate().GetId())
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "app (id or name) the certificate is for (attached to it)")
	cmd.Flags().StringSliceVar(&domains, "domain", nil, "DNS name to cover (repeatable)")
	cmd.Flags().StringVar(&directory, "directory", "", "ACME directory URL (default: the service's)")
	cmd.Flags().StringVar(&name, "name", "", "certificate name")
	cmd.Flags().StringVar(&challenge, "challenge", "", "ACME challenge: http-01 or dns-01 (default: http-01, dns-01 for wildcards)")
	cmd.Flags().BoolVar(&force, "force", false, "request even when the domains cover none of the app's domains")
	return cmd
}

func revokeCmd(f ClientFactory) *cobra.Command {
	var reason uint32
	cmd := &cobra.Command{
		Use:   "revoke ID|NAME [--reason N]",
		Short: "Revoke a managed certificate at its CA; a new one is issued",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := call(cmd, f, clientx.RPC(certv1connect.CertServiceClient.RevokeCertificate, &certv1.RevokeCertificateRequest{Certificate: args[0], Reason: reason}))
			if err != nil {
				return err
			}
			return clientx.Emit(f, res.Certificate, func(w io.Writer) error { return printCert(w, res.Certificate) })
		},
	}
	cmd.Flags().Uint32Var(&reason, "reason", 0, "RFC 5280 reason code (1 key compromise, 4 superseded, ...)")
	return cmd
}

func printCert(w io.Writer, c *certv1.Certificate) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("id", c.Id)
	row("name", c.Name)
	row("domains", strings.Join(c.Domains, ", "))
	row("state", state(c))
	row("valid", date(c.NotBefore)+" .. "+date(c.NotAfter))
	row("issuer", c.Issuer)
	row("serial", c.Serial)
	row("key", strings.TrimPrefix(c.KeyType.String(), "KEY_TYPE_"))
	row("sha256", c.FingerprintSha256)
	row("apps", strings.Join(c.AppIds, ", "))
	if c.Managed {
		row("acme", c.AcmeDirectory)
		row("challenge", challengeName(c.Challenge))
		if c.LastError != "" {
			row("last error", fmt.Sprintf("%s (attempt %d)", c.LastError, c.FailedAttempts))
		}
		if c.NextAttemptAt != nil {
			row("next attempt", c.NextAttemptAt.AsTime().Format(time.RFC3339))
		}
	}
	return tw.Flush()
}

// lastErrorWidth is how much of an ACME error a list row shows; `cert show`
// prints all of it.
const lastErrorWidth = 60

// lastError is a list cell: "-", or the attempt and the start of the error
// of the last failed issuance or renewal (cleared by the next success).
func lastError(c *certv1.Certificate) string {
	if c.LastError == "" {
		return "-"
	}
	msg, _, _ := strings.Cut(c.LastError, "\n")
	if r := []rune(msg); len(r) > lastErrorWidth {
		msg = string(r[:lastErrorWidth-3]) + "..."
	}
	return fmt.Sprintf("attempt %d: %s", c.FailedAttempts, msg)
}

func challengeName(t certv1.ChallengeType) string {
	if t == certv1.ChallengeType_CHALLENGE_TYPE_DNS_01 {
		return "dns-01"
	}
	return "http-01"
}

func state(c *certv1.Certificate) string {
	s := strings.ToLower(strings.TrimPrefix(c.State.String(), "CERTIFICATE_STATE_"))
	if c.Managed {
		s += " (managed)"
	}
	return s
}

func date(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format("2006-01-02")
}
