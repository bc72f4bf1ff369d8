package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/otpatch/otpatch/internal/client"
	"github.com/otpatch/otpatch/internal/feeds"
)

// runCSAFSync is `otpatch csaf sync`: it syncs every online CSAF feed now (or the one --feed
// names) and prints what each sync did. With --dir it sends a copy of a provider's tree
// carried to an air-gapped site to the server as a tar archive, streamed as it is read; the
// server checks hashes and signatures as for an online feed, trusting only the key
// fingerprints given here or keys an earlier sync of the provider verified. It fails when a
// sync failed or refused documents, after printing every sync.
func runCSAFSync(ctx context.Context, args []string) error {
	fs := newFlags("csaf sync")
	remote := newRemoteFlags(fs, "engineer or admin")
	feedID := fs.String("feed", "", "sync only this feed")
	dir := fs.String("dir", "", "a copy of a provider's tree (provider-metadata.json at its root or under .well-known/csaf/) to sync offline")
	fingerprint := fs.String("fingerprint", "", "with --dir: the fingerprint of the provider key to trust (several comma separated)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	switch {
	case *dir != "" && *feedID != "":
		return fs.usageError("give --feed or --dir, not both")
	case *fingerprint != "" && *dir == "":
		return fs.usageError("--fingerprint is for an offline sync (--dir)")
	}
	if *dir != "" {
		return syncTree(ctx, srv, *dir, *fingerprint)
	}
	ids := []string{*feedID}
	if *feedID == "" {
		if ids, err = onlineFeeds(ctx, srv); err != nil {
			return err
		}
		if len(ids) == 0 {
			fmt.Println("no feed to sync: add one with POST /api/v1/feeds")
			return nil
		}
	}
	bad := 0
	for _, id := range ids {
		res, err := srv.api.SyncFeedWithResponse(ctx, id)
		if err != nil {
			return srv.noAnswer(ctx, err)
		}
		if res.JSON200 == nil {
			return refused("the sync of feed "+id+" was", srv.wrongAnswer(res, http.StatusOK))
		}
		if !printSync(os.Stdout, *res.JSON200) {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d feed syncs failed or refused documents", bad, len(ids))
	}
	return nil
}

// onlineFeeds lists the feeds that have a schedule.
func onlineFeeds(ctx context.Context, srv *server) ([]string, error) {
	var ids []string
	var after *string
	for range 1000 {
		res, err := srv.api.ListFeedsWithResponse(ctx, &client.ListFeedsParams{After: after})
		if err != nil {
			return nil, srv.noAnswer(ctx, err)
		}
		if res.JSON200 == nil {
			return nil, refused("the list of feeds was", srv.wrongAnswer(res, http.StatusOK))
		}
		for _, f := range res.JSON200.Items {
			if f.IntervalMinutes > 0 {
				ids = append(ids, f.Id)
			}
		}
		if after = res.JSON200.Next; after == nil {
			break
		}
	}
	return ids, nil
}

// syncTree streams the tree under dir to the server as a tar archive.
func syncTree(ctx context.Context, srv *server, dir, fingerprint string) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(feeds.WriteTree(pw, dir)) }()
	defer pr.Close()
	params := &client.SyncFeedOfflineParams{}
	if fingerprint != "" {
		params.Fingerprint = &fingerprint
	}
	res, err := srv.api.SyncFeedOfflineWithBodyWithResponse(ctx, params, "application/x-tar", pr)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return refused("the provider tree was", srv.wrongAnswer(res, http.StatusOK))
	}
	if !printSync(os.Stdout, *res.JSON200) {
		return errors.New("the offline sync failed or refused documents")
	}
	return nil
}

// printSync prints one sync and the documents it refused; it reports whether all went well.
func printSync(w io.Writer, s client.FeedSync) bool {
	r := s.Sync
	fmt.Fprintf(w, "%s %s: %s; %d ingested, %d unchanged, %d refused, %d not changed since the last sync\n",
		s.Feed.Id, s.Feed.Url, r.Result, r.Ingested, r.Unchanged, r.Refused, r.Skipped)
	if r.Error != nil && *r.Error != "" {
		fmt.Fprintf(w, "  %s\n", *r.Error)
	}
	if s.Feed.Refusals != nil && s.Feed.LastSyncAt != nil {
		for _, d := range *s.Feed.Refusals {
			if d.SeenAt.Equal(*s.Feed.LastSyncAt) {
				fmt.Fprintf(w, "  refused %s: %s\n", d.Url, d.Reason)
			}
		}
	}
	return r.Result == client.FeedSyncResultResultOk
}
