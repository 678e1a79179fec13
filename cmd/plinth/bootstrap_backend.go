package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plinth-dev/plinth/stacks/statebackend"
)

// bootstrapBackendOptions are the inputs of `plinth bootstrap-backend`.
type bootstrapBackendOptions struct {
	IO     *IOStreams
	Global *globalOptions
	// URL is the backend URL argument (s3://BUCKET[?...]).
	URL string
	// Region is --region.
	Region string
	// Encryption is --encryption (kms or s3); KMSKey is --kms-key.
	Encryption string
	KMSKey     string
}

func newCmdBootstrapBackend(ios *IOStreams, g *globalOptions, runF func(context.Context, *bootstrapBackendOptions) error) *cobra.Command {
	opts := &bootstrapBackendOptions{IO: ios, Global: g}
	cmd := &cobra.Command{
		Use:   "bootstrap-backend s3://BUCKET --region REGION",
		Short: "Create (or check) an S3 bucket for a team's Pulumi state",
		Long: `Make an S3 bucket ready to hold the Pulumi state of a team's stacks (Pulumi's
self-managed backend), and print the backend URL to use with
plinth up --backend URL (or, for the pulumi CLI, pulumi login URL).

The bucket is created when missing, then set up, changing only what
differs (running it again changes nothing):
  - versioning on: every state write can be rolled back;
  - default encryption: SSE-KMS (--encryption kms, the default; the AWS
    managed key aws/s3, or --kms-key) or SSE-S3 (--encryption s3);
  - the public access block (all four settings) and ACLs disabled
    (BucketOwnerEnforced);
  - a bucket policy denying every request not made over TLS, added to
    the bucket's existing policy if it has one.

Credentials and settings come from the usual AWS configuration (AWS_PROFILE,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ...). The URL takes Pulumi's query
parameters: region, profile, endpoint and s3ForcePathStyle (for an
S3-compatible store). Stacks in the bucket lock themselves: a second update
of a stack is refused while one runs.

Exit status: 0 ready, 1 AWS error (no credentials, the bucket belongs to
another account, ...), 2 usage error.`,
		Example: `  plinth bootstrap-backend s3://acme-plinth-state --region eu-west-1
  plinth bootstrap-backend s3://acme-plinth-state --region eu-west-1 --kms-key alias/plinth-state
  plinth bootstrap-backend 's3://state?endpoint=minio.internal:9000&s3ForcePathStyle=true' --region us-east-1 --encryption s3`,
		Args: exactArgs(1, "the backend URL, s3://BUCKET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.URL = args[0]
			switch opts.Encryption {
			case statebackend.EncryptionKMS, statebackend.EncryptionS3:
			default:
				return usageError("--encryption %q: want %s (SSE-KMS) or %s (SSE-S3)", opts.Encryption, statebackend.EncryptionKMS, statebackend.EncryptionS3)
			}
			if opts.KMSKey != "" && opts.Encryption != statebackend.EncryptionKMS {
				return usageError("--kms-key needs --encryption %s", statebackend.EncryptionKMS)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if runF != nil {
				return runF(ctx, opts)
			}
			return runBootstrapBackend(ctx, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Region, "region", "", "the bucket's AWS region (default: region= of the URL, then AWS_REGION / the AWS config)")
	cmd.Flags().StringVar(&opts.Encryption, "encryption", statebackend.EncryptionKMS, "default encryption: kms (SSE-KMS) or s3 (SSE-S3, AES256)")
	cmd.Flags().StringVar(&opts.KMSKey, "kms-key", "", "KMS key id, ARN or alias for SSE-KMS (default: the AWS managed key aws/s3)")
	return cmd
}

func runBootstrapBackend(ctx context.Context, opts *bootstrapBackendOptions) error {
	b, err := statebackend.ParseS3(opts.URL)
	if err != nil {
		return usageError("%v", err)
	}
	if err := b.SetRegion(opts.Region); err != nil {
		return usageError("%v", err)
	}
	client, err := statebackend.NewClient(ctx, b)
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	res, err := statebackend.Bootstrap(ctx, client, b, statebackend.Options{Encryption: opts.Encryption, KMSKeyID: opts.KMSKey})
	if err != nil {
		return &exitError{code: exitFailure, err: err}
	}
	if opts.Global.json() {
		return writeJSON(opts.IO.Out, res)
	}
	w := opts.IO.Out
	fmt.Fprintf(w, "bucket %s\n", b.Bucket)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range res.Steps {
		what := "ok"
		if s.Changed {
			what = "set"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, what, s.Detail)
	}
	tw.Flush()
	if !res.Changed() {
		fmt.Fprintln(w, "nothing to change: the bucket was ready")
	}
	fmt.Fprintf(w, "\nbackend: %s\n", res.URL)
	fmt.Fprintf(w, "use it:  plinth up --stack NAME --backend '%s'\n", res.URL)
	fmt.Fprintf(w, "    or:  pulumi login '%s'  (the pulumi CLI)\n", res.URL)
	return nil
}
