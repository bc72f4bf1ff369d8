package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/store"
)

// runAuditVerify is `otpatch audit verify`: a broken chain is a verificationFailed (exit 3).
func runAuditVerify(ctx context.Context, args []string) error {
	fs := newFlags("audit verify")
	dataDir := fs.String("data", env("DATA", "./otpatch-data"), "data folder of otpatch dev (OTPATCH_DATA)")
	dsn := fs.String("database", env("DATABASE_URL", ""), "postgres:// URL or SQLite file; overrides --data (OTPATCH_DATABASE_URL)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	keyArg := fs.String("checkpoint-key", env("CHECKPOINT_PUBLIC_KEY", ""), "the published checkpoint key (file or base64); with the S3 settings the chain is also checked against the signed checkpoints (OTPATCH_CHECKPOINT_PUBLIC_KEY)")
	var s3 config
	fs.StringVar(&s3.s3Endpoint, "s3-endpoint", env("S3_ENDPOINT", ""), "S3 endpoint holding the checkpoints (OTPATCH_S3_ENDPOINT)")
	fs.StringVar(&s3.s3Access, "s3-access-key", env("S3_ACCESS_KEY", ""), "S3 access key (OTPATCH_S3_ACCESS_KEY)")
	fs.StringVar(&s3.s3Secret, "s3-secret-key", env("S3_SECRET_KEY", ""), "S3 secret key (OTPATCH_S3_SECRET_KEY)")
	fs.StringVar(&s3.s3Bucket, "s3-bucket", env("S3_BUCKET", "otpatch"), "S3 bucket (OTPATCH_S3_BUCKET)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *dsn == "" {
		*dsn = filepath.Join(*dataDir, "otpatch.db")
		if _, err := os.Stat(*dsn); err != nil {
			return fs.usageError("no database at %s: give --data DIR or --database DSN", *dsn)
		}
	}
	st, err := store.Open(*dsn, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	var res audit.Result
	against := "the chain alone (give --checkpoint-key and the S3 settings to check it against the signed checkpoints too)"
	if *keyArg != "" && s3.s3Endpoint != "" {
		pub, err := readPublicKey(*keyArg)
		if err != nil {
			return err
		}
		objs, err := artifacts.New(artifacts.Config{Endpoint: s3.s3Endpoint, AccessKey: s3.s3Access, SecretKey: s3.s3Secret, Bucket: s3.s3Bucket})
		if err != nil {
			return err
		}
		cps, err := audit.NewObjectCheckpoints(ctx, objs, 0, nil)
		if err != nil {
			return err
		}
		if res, err = st.VerifyAuditWith(ctx, pub, cps); err != nil {
			return err
		}
		against = "the chain and the signed checkpoints"
	} else if res, err = st.VerifyAudit(ctx); err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(b))
	} else if res.OK {
		fmt.Printf("audit chain intact: %d events, head %d %s\nchecked: %s\n", res.Events, res.HeadSeq, res.HeadHash, against)
	} else {
		fmt.Printf("audit chain BROKEN at event %d: %s\n(%d events before it verify)\n", res.BrokenAt, res.Problem, res.Events)
	}
	if !res.OK {
		return &verificationFailed{"audit chain verification failed"}
	}
	return nil
}
