package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/adapters"
	sshadapter "github.com/otpatch/otpatch/internal/adapters/ssh"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/metrics"
	"github.com/otpatch/otpatch/internal/sitewatch"
	"github.com/otpatch/otpatch/workflows"
)

// A site worker (`otpatch worker --site S`) does the device work of one site: it polls only
// the site's task queue, holds only the site's device key and known_hosts, and only dials out,
// to the Temporal frontend and to the object store. It has no database and no listener (but
// the optional metrics address): what it needs of an asset comes with the work, and what it
// saw goes back with the result, recorded by the central worker.

var siteIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// roleSiteWorker is `otpatch config check --role site-worker`.
const roleSiteWorker = "site-worker"

// siteWorkerProblems are what a site worker needs beyond a worker's settings. Mutual TLS to
// Temporal is required by config check (requireTLS), not at start: a site worker on the central
// machine itself may do without.
func (c *config) siteWorkerProblems(site string, requireTLS bool) []configProblem {
	var ps []configProblem
	add := func(setting, problem string) { ps = append(ps, configProblem{setting, problem}) }
	if !siteIDPattern.MatchString(site) {
		add("OTPATCH_SITE", fmt.Sprintf("%q is not a site id: give the id GET /api/v1/sites lists, such as site_01j…", site))
	}
	if c.database != "" {
		add("OTPATCH_DATABASE_URL", "a site worker has no database: unset it; the site worker reaches only Temporal and the object store")
	}
	if c.devices.sshKey == "" || c.devices.sshKnownHosts == "" {
		add("OTPATCH_SSH_KEY_FILE/OTPATCH_SSH_KNOWN_HOSTS", "a site worker reaches its site's devices over ssh: set the site's device key and the known_hosts file pinning its devices")
	}
	if requireTLS && !c.temporalClientTLS.on() {
		add("OTPATCH_TEMPORAL_TLS_CERT/OTPATCH_TEMPORAL_TLS_KEY", "a site worker dials Temporal across its site's conduit: use mutual TLS (a client certificate for this site and the CA of the frontend's certificate)")
	}
	return ps
}

// runSiteWorker starts a site worker after the checks of `config check --role site-worker`
// (but mutual TLS) pass.
func runSiteWorker(ctx context.Context, c *config, site string) error {
	var msgs []string
	for _, p := range append(c.validate(roleSiteWorker), c.siteWorkerProblems(site, false)...) {
		msgs = append(msgs, p.setting+": "+p.problem)
	}
	if len(msgs) > 0 {
		return errors.New("this site worker cannot start:\n  " + strings.Join(msgs, "\n  "))
	}
	log := c.logger().With("site", site)
	ssh, err := sshadapter.New(sshadapter.Config{KeyFile: c.devices.sshKey, KnownHostsFile: c.devices.sshKnownHosts, CommandTimeout: c.devices.sshCommandTimeout,
		ExpectedDuration: c.devices.sshExpected}, activities.EndpointFromInput)
	if err != nil {
		return err
	}
	objects, err := artifacts.New(artifacts.Config{Endpoint: c.s3Endpoint, AccessKey: c.s3Access, SecretKey: c.s3Secret, Bucket: c.s3Bucket, Secure: c.s3Secure})
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	identity := domain.SiteWorker{Site: site, Version: currentVersion().version, Host: host, PID: os.Getpid()}.Identity()
	tlsConfig, err := c.temporalTLS()
	if err != nil {
		return err
	}
	m := metrics.New()
	tc, err := client.DialContext(ctx, client.Options{HostPort: c.temporal, Namespace: c.namespace, Identity: identity,
		Logger: tlog.NewStructuredLogger(sdkLogger(log)), MetricsHandler: m.SDK.Handler(),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConfig}})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", c.temporal, err)
	}
	defer tc.Close()
	queue := domain.SiteTaskQueue(site)
	w := worker.New(tc, queue, workflows.WorkerOptions(worker.Options{Identity: identity, Interceptors: []interceptor.WorkerInterceptor{m.WorkerInterceptor()}}))
	w.RegisterActivity(&activities.Device{Objects: objects, Adapters: map[string]adapters.Target{adapters.SSH: ssh}, Log: log, Worker: identity})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start site worker: %w", err)
	}
	if c.metricsListen != "" {
		serveMetrics(ctx, log, c.metricsListen, m)
	}
	log.Info("otpatch site worker polling", "task_queue", queue, "temporal", c.temporal, "identity", identity)
	<-ctx.Done()
	w.Stop()
	return nil
}

// sdkLogger is log without the SDK's info records (it logs every poll at info).
func sdkLogger(log *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{Handler: log.Handler(), min: slog.LevelWarn})
}

// watchSites records, until ctx ends, which workers poll the task queue of each site whose
// device work runs at the site (GET /api/v1/sites/{id}, the campaign page); the store closes
// only after the watch stopped.
func (d *deps) watchSites(ctx context.Context) {
	done := sitewatch.Watch(ctx, d.store, d.tc, d.log, 0)
	d.closers = append(d.closers, func() { <-done })
}
