package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/otpatch/otpatch/internal/client"
	"github.com/otpatch/otpatch/internal/store"
)

// The unknown-device commands: an engineer imports a network scan or a switch's table, lists
// the devices no asset knows, and claims or rejects each (docs/unknown-devices.md).

// maxDiscoveryFile is the largest scan the server takes.
const maxDiscoveryFile = 1 << 20

// runDiscoveryImport is `otpatch discovery import FILE`.
func runDiscoveryImport(ctx context.Context, args []string) error {
	fs := newFlags("discovery import")
	remote := newRemoteFlags(fs, "engineer or admin")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fs.usageError("give one FILE: nmap's XML report (nmap -oX), or CSV with columns ip,mac,hostname,vendor,model,seen_at, any of them in any order")
	}
	body, err := readBounded(rest[0], maxDiscoveryFile)
	if err != nil {
		return err
	}
	// nmap's report is XML: it starts with '<'. Anything else goes as CSV, which the server
	// refuses with each fault named when it is not.
	contentType := "text/csv"
	if bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\ufeff")), " \t\r\n"), []byte("<")) {
		contentType = "application/xml"
	}
	res, err := srv.api.ImportDiscoveriesWithBodyWithResponse(ctx, contentType, bytes.NewReader(body))
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	var out struct {
		Rows   int      `json:"rows"`
		Known  int      `json:"known"`
		New    int      `json:"new"`
		Seen   int      `json:"seen"`
		Alarms int      `json:"alarms"`
		IDs    []string `json:"discovery_ids"`
	}
	if res.StatusCode() != http.StatusOK || json.Unmarshal(res.Body, &out) != nil {
		return refused("the import was", srv.wrongAnswer(res, http.StatusOK))
	}
	fmt.Printf("%d sightings: %d of known assets, %d new unknown devices, %d seen before; %d alarms raised\n", out.Rows, out.Known, out.New, out.Seen, out.Alarms)
	return nil
}

// runDiscoveryList is `otpatch discovery list`.
func runDiscoveryList(ctx context.Context, args []string) error {
	fs := newFlags("discovery list")
	remote := newRemoteFlags(fs, "staff")
	state := fs.String("state", "", "only discoveries in this state: open, claimed or rejected")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fs.usageError("takes no arguments")
	}
	var after *string
	for {
		params := &client.ListDiscoveriesParams{After: after}
		if *state != "" {
			st := client.ListDiscoveriesParamsState(*state)
			params.State = &st
		}
		res, err := srv.api.ListDiscoveriesWithResponse(ctx, params)
		if err != nil {
			return srv.noAnswer(ctx, err)
		}
		var p struct {
			Items []store.Discovery `json:"items"`
			Next  string            `json:"next"`
		}
		if res.StatusCode() != http.StatusOK || json.Unmarshal(res.Body, &p) != nil {
			return refused("listing the discoveries was", srv.wrongAnswer(res, http.StatusOK))
		}
		for _, d := range p.Items {
			fmt.Println(discoveryLine(d))
		}
		if p.Next == "" {
			return nil
		}
		after = &p.Next
	}
}

func discoveryLine(d store.Discovery) string {
	what := d.Hostname
	if what == "" {
		what = "-"
	}
	line := fmt.Sprintf("%s  %-8s  %-20s  %s  %s  last seen %s (%d sightings, %s %s)", d.ID, d.State, what,
		strings.Join(d.Addresses, ","), strings.Join(d.MACs, ","), d.LastSeenAt.Format("2006-01-02 15:04Z"), d.Sightings, d.Source, d.ReportedBy)
	switch d.State {
	case store.DiscoveryClaimed:
		line += "  claimed as " + d.AssetID
	case store.DiscoveryRejected:
		line += "  rejected: " + d.Reason
	}
	return line
}

// runDiscoveryClaim is `otpatch discovery claim --asset ID DISCOVERY`.
func runDiscoveryClaim(ctx context.Context, args []string) error {
	fs := newFlags("discovery claim")
	remote := newRemoteFlags(fs, "engineer or admin")
	asset := fs.String("asset", "", "the asset of the inventory the device is (required)")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	switch {
	case len(rest) != 1:
		return fs.usageError("give one DISCOVERY id")
	case *asset == "":
		return fs.usageError("give --asset: the asset the device is")
	}
	res, err := srv.api.ClaimDiscoveryWithResponse(ctx, rest[0], client.ClaimDiscoveryJSONRequestBody{AssetId: asset})
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	return printDiscovery(srv, res.StatusCode(), res.Body, res, "the claim was")
}

// runDiscoveryReject is `otpatch discovery reject --reason TEXT DISCOVERY`.
func runDiscoveryReject(ctx context.Context, args []string) error {
	fs := newFlags("discovery reject")
	remote := newRemoteFlags(fs, "engineer or admin")
	reason := fs.String("reason", "", "why the device is no asset of the plant (required)")
	realarm := fs.Bool("realarm", false, "raise a new alarm when the device is seen again")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	switch {
	case len(rest) != 1:
		return fs.usageError("give one DISCOVERY id")
	case strings.TrimSpace(*reason) == "":
		return fs.usageError("give --reason: why the device is no asset of the plant")
	}
	res, err := srv.api.RejectDiscoveryWithResponse(ctx, rest[0], client.RejectDiscoveryJSONRequestBody{Reason: *reason, Realarm: realarm})
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	return printDiscovery(srv, res.StatusCode(), res.Body, res, "the rejection was")
}

func printDiscovery(srv *server, status int, body []byte, res answer, what string) error {
	var d store.Discovery
	if status != http.StatusOK || json.Unmarshal(body, &d) != nil {
		return refused(what, srv.wrongAnswer(res, http.StatusOK))
	}
	fmt.Println(discoveryLine(d))
	return nil
}

// runDiscoverySites is `otpatch discovery sites`: every site's worker is asked for its
// neighbour table now.
func runDiscoverySites(ctx context.Context, args []string) error {
	fs := newFlags("discovery sites")
	remote := newRemoteFlags(fs, "engineer or admin")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	res, err := srv.api.AskSiteWorkersWithResponse(ctx)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return refused("the request was", srv.wrongAnswer(res, http.StatusOK))
	}
	if len(res.JSON200.Sites) == 0 {
		fmt.Println("no site runs its device work on site workers")
		return nil
	}
	for _, s := range res.JSON200.Sites {
		if s.Skipped != nil {
			fmt.Printf("%s (%s): skipped: %s\n", s.SiteName, s.SiteId, *s.Skipped)
			continue
		}
		fmt.Printf("%s (%s): its worker %s saw %d neighbours: %d new unknown devices, %d alarms raised\n", s.SiteName, s.SiteId, deref(s.Worker), s.Neighbors, s.New, s.Alarms)
	}
	return nil
}
