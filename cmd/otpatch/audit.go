package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// runAuditVerify is `otpatch audit verify`: it recomputes every event's chain hash and Merkle
// leaf and compares the log with every signed checkpoint it can reach. Checkpoints are read
// from the object store given (the S3 settings with the published key), or, for a data folder
// of otpatch dev, from that folder's object store with that folder's key. Flags that cannot
// work together are refused (exit 2); a broken log is a verificationFailed (exit 3).
func runAuditVerify(ctx context.Context, args []string) error {
	fs := newFlags("audit verify")
	dataDir := fs.String("data", "", "data folder of otpatch dev: its database, object store and checkpoint key (OTPATCH_DATA)")
	dsn := fs.String("database", env("DATABASE_URL", ""), "postgres:// URL or SQLite file (OTPATCH_DATABASE_URL); not with --data")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	keyArg := fs.String("checkpoint-key", env("CHECKPOINT_PUBLIC_KEY", ""), "the published checkpoint key (a file: PEM, base64 or the JSON of GET /api/v1/audit/key; or the base64 key); needs the S3 settings, or --data whose key it must be (OTPATCH_CHECKPOINT_PUBLIC_KEY)")
	noCheckpoints := fs.Bool("no-checkpoints", false, "check the log alone, without signed checkpoints: a log cut short or rewritten with recomputed hashes then passes")
	var s3 config
	fs.StringVar(&s3.s3Endpoint, "s3-endpoint", env("S3_ENDPOINT", ""), "S3 endpoint holding the checkpoints (OTPATCH_S3_ENDPOINT)")
	fs.StringVar(&s3.s3Access, "s3-access-key", env("S3_ACCESS_KEY", ""), "S3 access key (OTPATCH_S3_ACCESS_KEY)")
	fs.StringVar(&s3.s3Secret, "s3-secret-key", env("S3_SECRET_KEY", ""), "S3 secret key (OTPATCH_S3_SECRET_KEY)")
	fs.StringVar(&s3.s3Bucket, "s3-bucket", env("S3_BUCKET", "otpatch"), "S3 bucket (OTPATCH_S3_BUCKET)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *dataDir == "" && *dsn == "" {
		*dataDir = env("DATA", "./otpatch-data")
	}
	switch {
	case *dataDir != "" && *dsn != "":
		return fs.usageError("give --data (otpatch dev's folder) or --database, not both")
	case *dsn != "" && s3.s3Endpoint == "" && !*noCheckpoints:
		return fs.usageError("--database needs the object store that holds the checkpoints (--s3-endpoint and keys) and --checkpoint-key; or --no-checkpoints to check the log alone")
	case s3.s3Endpoint != "" && *keyArg == "":
		return fs.usageError("--s3-endpoint needs --checkpoint-key, the published key that must have signed the checkpoints")
	case *noCheckpoints && (*keyArg != "" || s3.s3Endpoint != ""):
		return fs.usageError("--no-checkpoints cannot be given with --checkpoint-key or --s3-endpoint")
	}
	var pub ed25519.PublicKey
	if *keyArg != "" {
		var err error
		if pub, err = readPublicKey(*keyArg); err != nil {
			return fs.usageError("%v", err)
		}
	}
	var cps audit.CheckpointStore
	var devKey ed25519.PublicKey
	if *dataDir != "" {
		*dsn = filepath.Join(*dataDir, "otpatch.db")
		if _, err := os.Stat(*dsn); err != nil {
			return fs.usageError("no database at %s: give --data DIR of otpatch dev, or --database DSN", *dsn)
		}
		if s3.s3Endpoint == "" && !*noCheckpoints {
			store, key, err := devCheckpoints(ctx, *dataDir)
			if err != nil {
				return err
			}
			defer store.close()
			cps, devKey = store.cps, key
			if pub != nil && !pub.Equal(devKey) {
				return fs.usageError("--checkpoint-key %s is not the key of %s (%s)", signing.Fingerprint(pub), *dataDir, signing.Fingerprint(devKey))
			}
			if pub == nil {
				pub = devKey
			}
		}
	}
	if s3.s3Endpoint != "" {
		objs, err := artifacts.New(artifacts.Config{Endpoint: s3.s3Endpoint, AccessKey: s3.s3Access, SecretKey: s3.s3Secret, Bucket: s3.s3Bucket})
		if err != nil {
			return err
		}
		if cps, err = audit.NewObjectCheckpoints(ctx, objs, 0, nil); err != nil {
			return err
		}
	}
	st, err := store.Open(*dsn, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	var res audit.Result
	var against string
	if cps != nil {
		if res, err = st.VerifyAuditWith(ctx, pub, cps); err != nil {
			return err
		}
		notes := "no signed checkpoint yet (the server signs one at least every minute while events are unsigned, and at clean shutdown)"
		if res.Notes > 0 {
			notes = fmt.Sprintf("%d signed checkpoint notes (the newest of a log of %d events)", res.Notes, res.NoteSize)
		}
		against = fmt.Sprintf("every event's hash and its leaf in the Merkle tree; %s and %d checkpoints of the older chain, signed by %s",
			notes, res.Checkpoints, signing.Fingerprint(pub))
		if devKey != nil && *keyArg == "" {
			against += " (the key in the data folder: pass --checkpoint-key to check against the published one)"
		}
	} else {
		if res, err = st.VerifyAudit(ctx); err != nil {
			return err
		}
		against = "every event's hash and its leaf in the Merkle tree, WITHOUT signed checkpoints: a log cut short or rewritten with recomputed hashes would pass"
	}
	if *asJSON {
		b, _ := json.MarshalIndent(map[string]any{"result": res, "checked": against}, "", "  ")
		fmt.Println(string(b))
	} else if res.OK {
		fmt.Printf("audit log intact: %d events, root %s\nchecked: %s\n", res.Events, res.TreeRoot, against)
	} else {
		fmt.Printf("audit log BROKEN at event %d: %s\n(%d events before it verify)\nchecked: %s\n", res.BrokenAt, res.Problem, res.Events, against)
	}
	if !res.OK {
		return &verificationFailed{"audit log verification failed"}
	}
	return nil
}
