package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otpatch/otpatch/internal/client"
)

// Notifications from the command line (docs/notifications.md): a person subscribes an
// address to kinds of event, an admin registers webhooks and checks their delivery log.

func notifyCommands() []command {
	return []command{
		{"notify kinds", "--url URL --token TOKEN", "list the kinds of notification one may subscribe to, and your subscriptions", runNotifyKinds},
		{"notify subscribe", "--url URL --token TOKEN --kind KIND --email ADDRESS [--hours-before N] [--role ROLE]", "send an address the notifications of a kind (--role: a whole role's, admins only)", runNotifySubscribe},
		{"notify unsubscribe", "--url URL --token TOKEN SUBSCRIPTION", "stop a subscription", runNotifyUnsubscribe},
		{"webhook add", "--url URL --token TOKEN --target URL [--kinds K1,K2]", "register a webhook (admins); its signing secret is printed once", runWebhookAdd},
		{"webhook list", "--url URL --token TOKEN", "list the webhooks (admins)", runWebhookList},
		{"webhook delete", "--url URL --token TOKEN WEBHOOK", "remove a webhook; its delivery log stays (admins)", runWebhookDelete},
		{"webhook test", "--url URL --token TOKEN WEBHOOK", "send a webhook a test notification (admins)", runWebhookTest},
		{"webhook deliveries", "--url URL --token TOKEN WEBHOOK", "a webhook's delivery log, newest first: each attempt and its answer (admins)", runWebhookDeliveries},
	}
}

func runNotifyKinds(ctx context.Context, args []string) error {
	fs := newFlags("notify kinds")
	remote := newRemoteFlags(fs, "engineer, approver, safety, auditor or admin")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	res, err := srv.api.ListSubscriptionsWithResponse(ctx)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return refused("the subscriptions were", srv.wrongAnswer(res, http.StatusOK))
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tTELLS WHEN")
	for _, k := range res.JSON200.Kinds {
		fmt.Fprintf(tw, "%s\t%s\n", k.Kind, k.Description)
	}
	_ = tw.Flush()
	fmt.Println()
	if len(res.JSON200.Items) == 0 {
		fmt.Println("no subscription")
		return nil
	}
	tw = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBSCRIPTION\tKIND\tADDRESS\tFOR")
	for _, s := range res.JSON200.Items {
		who := "you"
		if deref(s.Role) != "" {
			who = "role " + deref(s.Role)
		}
		if s.HoursBefore != nil {
			who += fmt.Sprintf(", %d h before", *s.HoursBefore)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Id, s.Kind, s.Email, who)
	}
	return tw.Flush()
}

func runNotifySubscribe(ctx context.Context, args []string) error {
	fs := newFlags("notify subscribe")
	remote := newRemoteFlags(fs, "engineer, approver, safety, auditor or admin")
	kind := fs.String("kind", "", "the kind of notification (otpatch notify kinds lists them)")
	email := fs.String("email", "", "the address the notifications go to")
	hours := fs.Int64("hours-before", 0, "with --kind window_opening: how many hours before the window opens")
	role := fs.String("role", "", "subscribe everyone acting in this role (admins only), at one address such as a distribution list")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *kind == "" || *email == "" {
		return fs.usageError("give --kind and --email")
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	body := client.CreateSubscriptionJSONRequestBody{Kind: kind, Email: email}
	if *hours != 0 {
		body.HoursBefore = hours
	}
	if *role != "" {
		body.Role = role
	}
	res, err := srv.api.CreateSubscriptionWithResponse(ctx, body)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON201 == nil {
		return refused("the subscription was", srv.wrongAnswer(res, http.StatusCreated))
	}
	fmt.Printf("subscription %s: %s is sent %s notifications (%s)\n", res.JSON201.Id, res.JSON201.Email, res.JSON201.Kind, res.JSON201.Description)
	return nil
}

// connectWithID reads the one argument of a command that names a thing by its id, then
// connects to the server.
func connectWithID(fs *flags, remote remoteFlags, args []string, what string) (*server, string, error) {
	rest, err := fs.parse(args)
	if err != nil {
		return nil, "", err
	}
	if len(rest) != 1 {
		return nil, "", fs.usageError("give one %s", what)
	}
	srv, err := remote.connect()
	return srv, rest[0], err
}

func runNotifyUnsubscribe(ctx context.Context, args []string) error {
	fs := newFlags("notify unsubscribe")
	remote := newRemoteFlags(fs, "the subscriber, or an admin")
	srv, id, err := connectWithID(fs, remote, args, "SUBSCRIPTION id (otpatch notify kinds lists yours)")
	if err != nil {
		return err
	}
	res, err := srv.api.DeleteSubscriptionWithResponse(ctx, id)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.StatusCode() != http.StatusNoContent {
		return refused("the unsubscription was", srv.wrongAnswer(res, http.StatusNoContent))
	}
	fmt.Printf("subscription %s stopped\n", id)
	return nil
}

func runWebhookAdd(ctx context.Context, args []string) error {
	fs := newFlags("webhook add")
	remote := newRemoteFlags(fs, "admin")
	target := fs.String("target", "", "the receiver's URL (https, or http on a network the plant trusts)")
	kinds := fs.String("kinds", "", "the kinds it is sent, separated by commas (default: every kind)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *target == "" {
		return fs.usageError("give --target, the receiver's URL")
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	body := client.CreateWebhookJSONRequestBody{Url: target}
	if *kinds != "" {
		ks := strings.Split(*kinds, ",")
		for i := range ks {
			ks[i] = strings.TrimSpace(ks[i])
		}
		body.Kinds = &ks
	}
	res, err := srv.api.CreateWebhookWithResponse(ctx, body)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON201 == nil {
		return refused("the webhook was", srv.wrongAnswer(res, http.StatusCreated))
	}
	h := res.JSON201
	fmt.Printf("webhook %s sends %s to %s\n", h.Id, kindWords(h.Kinds), h.Url)
	fmt.Printf("signing secret (shown this once; keep it where the receiver reads it): %s\n", deref(h.Secret))
	return nil
}

func kindWords(ks []string) string {
	if len(ks) == 0 {
		return "every kind"
	}
	return strings.Join(ks, ", ")
}

func runWebhookList(ctx context.Context, args []string) error {
	fs := newFlags("webhook list")
	remote := newRemoteFlags(fs, "admin")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	srv, err := remote.connect()
	if err != nil {
		return err
	}
	res, err := srv.api.ListWebhooksWithResponse(ctx)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return refused("the list of webhooks was", srv.wrongAnswer(res, http.StatusOK))
	}
	if len(res.JSON200.Items) == 0 {
		fmt.Println("no webhook")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WEBHOOK\tURL\tKINDS\tCREATED (UTC)\tBY")
	for _, h := range res.JSON200.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Id, h.Url, kindWords(h.Kinds), h.CreatedAt.UTC().Format(time.RFC3339), h.CreatedBy)
	}
	return tw.Flush()
}

func runWebhookDelete(ctx context.Context, args []string) error {
	fs := newFlags("webhook delete")
	remote := newRemoteFlags(fs, "admin")
	srv, id, err := connectWithID(fs, remote, args, "WEBHOOK id (otpatch webhook list)")
	if err != nil {
		return err
	}
	res, err := srv.api.DeleteWebhookWithResponse(ctx, id)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.StatusCode() != http.StatusNoContent {
		return refused("the removal was", srv.wrongAnswer(res, http.StatusNoContent))
	}
	fmt.Printf("webhook %s removed; its delivery log stays\n", id)
	return nil
}

func runWebhookTest(ctx context.Context, args []string) error {
	fs := newFlags("webhook test")
	remote := newRemoteFlags(fs, "admin")
	srv, id, err := connectWithID(fs, remote, args, "WEBHOOK id (otpatch webhook list)")
	if err != nil {
		return err
	}
	res, err := srv.api.TestWebhookWithResponse(ctx, id)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON202 == nil {
		return refused("the test was", srv.wrongAnswer(res, http.StatusAccepted))
	}
	fmt.Printf("test notification %s is on its way; otpatch webhook deliveries %s shows each attempt\n", res.JSON202.NotificationKey, id)
	return nil
}

func runWebhookDeliveries(ctx context.Context, args []string) error {
	fs := newFlags("webhook deliveries")
	remote := newRemoteFlags(fs, "admin")
	srv, id, err := connectWithID(fs, remote, args, "WEBHOOK id (otpatch webhook list)")
	if err != nil {
		return err
	}
	res, err := srv.api.ListWebhookDeliveriesWithResponse(ctx, id)
	if err != nil {
		return srv.noAnswer(ctx, err)
	}
	if res.JSON200 == nil {
		return refused("the delivery log was", srv.wrongAnswer(res, http.StatusOK))
	}
	if len(res.JSON200.Items) == 0 {
		fmt.Println("nothing was sent to it yet")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT (UTC)\tNOTIFICATION\tKIND\tATTEMPT\tSTATUS\tHTTP\tERROR")
	for _, d := range res.JSON200.Items {
		code := "—"
		if d.HttpStatus != nil {
			code = fmt.Sprint(*d.HttpStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.At.UTC().Format(time.RFC3339), d.NotificationKey, d.Kind, d.Attempt, d.Status, code, deref(d.Error))
	}
	return tw.Flush()
}
