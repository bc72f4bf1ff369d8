package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// TestNotifyCLI: an engineer lists the kinds and subscribes, a bad kind is named, a vendor is
// refused; an admin registers a webhook (its secret printed once), sends it a test, and reads
// the delivery log, where the receiver's answer shows.
func TestNotifyCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev")
	}
	var got atomic.Int32
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Otpatch-Signature") != "" {
			got.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	})}}
	hook.Start()
	defer hook.Close()

	dir := t.TempDir()
	addr := freePort(t)
	startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	bin, _ := binary()
	run := func(role string, args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--url", "http://"+addr, "--token", tokens[role])...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := run("engineer", "notify", "subscribe", "--kind", "everything", "--email", "erin@plant.example"); err == nil || !strings.Contains(out, "kind") {
		t.Errorf("a bad kind: %v\n%s", err, out)
	}
	if out, err := run("vendor", "notify", "subscribe", "--kind", "alarm_raised", "--email", "v@vendor.example"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("a vendor subscribing: %v\n%s", err, out)
	}
	out, err := run("engineer", "notify", "subscribe", "--kind", "kev_advisory", "--email", "erin@plant.example")
	sub := regexp.MustCompile(`subscription (\S+):`).FindStringSubmatch(out)
	if err != nil || sub == nil {
		t.Fatalf("subscribe: %v\n%s", err, out)
	}
	if out, err := run("engineer", "notify", "kinds"); err != nil || !strings.Contains(out, "approval_requested") || !strings.Contains(out, sub[1]) || !strings.Contains(out, "erin@plant.example") {
		t.Errorf("the kinds and the engineer's subscription: %v\n%s", err, out)
	}
	if out, err := run("engineer", "notify", "unsubscribe", sub[1]); err != nil || !strings.Contains(out, "stopped") {
		t.Errorf("unsubscribe: %v\n%s", err, out)
	}

	if out, err := run("engineer", "webhook", "add", "--target", hook.URL); err == nil || !strings.Contains(out, "403") {
		t.Errorf("an engineer adding a webhook: %v\n%s", err, out)
	}
	out, err = run("admin", "webhook", "add", "--target", hook.URL+"/otpatch", "--kinds", "approval_requested, alarm_raised")
	wh := regexp.MustCompile(`webhook (\S+) sends`).FindStringSubmatch(out)
	if err != nil || wh == nil || !strings.Contains(out, "signing secret") || !strings.Contains(out, "whsec_") {
		t.Fatalf("add a webhook: %v\n%s", err, out)
	}
	if out, err := run("admin", "webhook", "list"); err != nil || !strings.Contains(out, wh[1]) || strings.Contains(out, "whsec_") {
		t.Errorf("the list shows the webhook without its secret: %v\n%s", err, out)
	}
	if out, err := run("admin", "webhook", "test", wh[1]); err != nil || !strings.Contains(out, "on its way") {
		t.Fatalf("test: %v\n%s", err, out)
	}
	waitFor(t, "the test delivery in the log", func() (bool, string) {
		out, err := run("admin", "webhook", "deliveries", wh[1])
		return err == nil && strings.Contains(out, "sent") && strings.Contains(out, "204") && got.Load() > 0, out
	})
	if out, err := run("admin", "webhook", "delete", wh[1]); err != nil || !strings.Contains(out, "removed") {
		t.Errorf("delete: %v\n%s", err, out)
	}
	if out, err := run("admin", "webhook", "list"); err != nil || !strings.Contains(out, "no webhook") {
		t.Errorf("the list after the removal: %v\n%s", err, out)
	}
}
