package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otpatch/otpatch/internal/store"
)

func runAuditVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dataDir := fs.String("data", env("DATA", "./otpatch-data"), "data folder of `otpatch dev` (OTPATCH_DATA)")
	dsn := fs.String("database", env("DATABASE_URL", ""), "postgres:// URL or SQLite file; overrides --data (OTPATCH_DATABASE_URL)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		*dsn = filepath.Join(*dataDir, "otpatch.db")
		if _, err := os.Stat(*dsn); err != nil {
			return fmt.Errorf("no database at %s: give --data DIR or --database DSN", *dsn)
		}
	}
	st, err := store.Open(*dsn, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(b))
	} else if res.OK {
		fmt.Printf("audit chain intact: %d events, head %d %s\n", res.Events, res.HeadSeq, res.HeadHash)
	} else {
		fmt.Printf("audit chain BROKEN at event %d: %s\n(%d events before it verify)\n", res.BrokenAt, res.Problem, res.Events)
	}
	if !res.OK {
		return errors.New("audit chain verification failed")
	}
	return nil
}
