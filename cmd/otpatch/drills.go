package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otpatch/otpatch/internal/client"
)

// Restore drills from the command line: `otpatch drill add|list|run` (docs/restore-drills.md).

// parseEvery reads an interval in days ("90d") or hours ("36h"), as whole hours.
func parseEvery(s string) (int, error) {
	switch {
	case strings.HasSuffix(s, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err == nil && n > 0 {
			return n * 24, nil
		}
	case strings.HasSuffix(s, "h"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "h"))
		if err == nil && n > 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("--every %q is not a number of days (90d) or hours (36h)", s)
}

func runDrillAdd(ctx context.Context, args []string) error {
	fs := newFlags("drill add")
	remote := newRemoteFlags(fs, "engineer or admin")
	product := fs.String("product", "", "drill the production backups of this product")
	zone := fs.String("zone", "", "drill the backups of this production zone")
	every := fs.String("every", "90d", "how often the drill runs and must pass: days (90d) or hours (36h)")
	name := fs.String("name", "", "what people call the drill (default: the product's or zone's name)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if (*product == "") == (*zone == "") {
		return fs.usageError("give --product or --zone, one of them")
	}
	hours, err := parseEvery(*every)
	if err != nil {
		return fs.usageError("%s", err.Error())
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	h64 := int64(hours)
	body := client.CreateDrillJSONRequestBody{IntervalHours: &h64}
	if *product != "" {
		body.ProductId = product
	}
	if *zone != "" {
		body.ZoneId = zone
	}
	if *name != "" {
		body.Name = name
	}
	res, err := srv.api.CreateDrillWithResponse(ctx, body)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON201 == nil {
		return refused("the drill was", srv.wrongAnswer(res, http.StatusCreated))
	}
	d := res.JSON201
	fmt.Printf("planned drill %s (%s), every %d h; it must first pass by %s\n", d.Id, d.Name, d.IntervalHours, d.NextDue.UTC().Format(time.RFC3339))
	return nil
}

func runDrillList(ctx context.Context, args []string) error {
	fs := newFlags("drill list")
	remote := newRemoteFlags(fs, "engineer, approver, safety, auditor or admin")
	overdue := fs.Bool("overdue", false, "only the overdue drills")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	var drills []client.Drill
	var after *string
	for range 1000 {
		p := &client.ListDrillsParams{After: after}
		if *overdue {
			v := client.ListDrillsParamsOverdue("1")
			p.Overdue = &v
		}
		res, err := srv.api.ListDrillsWithResponse(ctx, p)
		if err != nil {
			return srv.noAnswer(ctx, err)
		}
		if res.JSON200 == nil {
			return refused("the list of drills was", srv.wrongAnswer(res, http.StatusOK))
		}
		drills = append(drills, res.JSON200.Items...)
		if after = res.JSON200.Next; after == nil {
			break
		}
	}
	printDrills(os.Stdout, drills)
	return nil
}

// printDrills prints one line per drill, overdue ones marked.
func printDrills(w io.Writer, drills []client.Drill) {
	if len(drills) == 0 {
		fmt.Fprintln(w, "no restore drill")
		return
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DRILL\tNAME\tOF\tEVERY\tLAST RESULT\tTIME TO RESTORE\tMUST PASS BY (UTC)")
	for _, d := range drills {
		of := "zone " + deref(d.ZoneId)
		if deref(d.ProductId) != "" {
			of = "product " + deref(d.ProductId)
		}
		last := "not run yet"
		if d.LastResult != nil {
			last = string(*d.LastResult)
		}
		ttr := "-"
		if d.LastRestoreMs != nil {
			ttr = (time.Duration(*d.LastRestoreMs) * time.Millisecond).String()
		}
		due := d.NextDue.UTC().Format(time.RFC3339)
		if d.Overdue {
			due += "  OVERDUE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%dh\t%s\t%s\t%s\n", d.Id, d.Name, of, d.IntervalHours, last, ttr, due)
	}
	tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func runDrillRun(ctx context.Context, args []string) error {
	fs := newFlags("drill run")
	remote := newRemoteFlags(fs, "engineer or admin")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fs.usageError("name one drill")
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	res, err := srv.api.RunDrillWithResponse(ctx, rest[0])
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON202 == nil {
		return refused("the run was", srv.wrongAnswer(res, http.StatusAccepted))
	}
	fmt.Printf("drill %s runs now as %s; otpatch drill list shows its result when it ends\n", rest[0], res.JSON202.RunId)
	return nil
}
