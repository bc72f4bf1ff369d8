package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/metrics"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/refusals"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/ui"
	"github.com/otpatch/otpatch/workflows"
)

// config is what the production commands read from flags and OTPATCH_* variables.
type config struct {
	checkpointKey string
	// auditOrigin names the log in its checkpoints; auditCheckpointEvery is the longest an
	// event stays unsigned, auditVerifyEvery how often every event is recomputed.
	auditOrigin                            string
	auditCheckpointEvery, auditVerifyEvery time.Duration
	listen                                 string
	database                               string
	temporal                               string
	namespace                              string
	s3Endpoint                             string
	s3Access                               string
	s3Secret                               string
	s3Bucket                               string
	s3Secure                               bool
	simStep                                time.Duration
	maxArtifact                            int64
	maxCampaignAssets                      int
	logJSON                                bool
	// authFailures and writesPerMinute are the API's rate limits: failed authentications
	// per source address and changes per identity, a minute.
	authFailures, writesPerMinute int
	// metricsListen is a separate address for /metrics (the worker's only listener).
	metricsListen string
	// tlsCert and tlsKey turn on HTTPS for the API.
	tlsCert, tlsKey string
	// devices is how the worker reaches real devices (ssh adapter).
	devices deviceConfig
	// tokenDays is how long a new personal API token lasts unless its request says otherwise;
	// tokenMaxDays the longest a request may ask for.
	tokenDays, tokenMaxDays int
	// identity is how people sign in (identity.go).
	identity identityConfig
	// trustedProxies lists the reverse proxies whose X-Forwarded-For names the client
	// (comma-separated addresses or CIDR prefixes); secureCookies marks cookies Secure on
	// plain HTTP, for a TLS-terminating proxy in front (secureCookiesSetting is what was given).
	trustedProxies       string
	secureCookies        bool
	secureCookiesSetting string
	// temporalClientTLS is TLS (mutual with a client certificate) to the Temporal frontend.
	temporalClientTLS temporalTLSSettings
	// transfers is the air-gapped transfer side (transfers.go).
	transfers transferConfig
	// notify is how notifications are sent (notify_config.go).
	notify notifyConfig
}

// The processes a configuration is for. Each lists and reads only its own settings: the
// server's are the API's (listen address, TLS, upload limit, rate limits, tokens, sign-in),
// the worker's reach devices; dev runs both in one process.
const (
	roleServer = "server"
	roleWorker = "worker"
	roleDev    = "dev"
)

// flags registers the settings of role on fs.
func (c *config) flags(fs *flag.FlagSet, role string) {
	fs.StringVar(&c.checkpointKey, "checkpoint-key", env("CHECKPOINT_KEY_FILE", ""), "audit checkpoint signing key (PEM file; created when missing) (OTPATCH_CHECKPOINT_KEY_FILE)")
	fs.StringVar(&c.auditOrigin, "audit-origin", env("AUDIT_ORIGIN", ""), "the audit log's name in every checkpoint, such as plant.example/otpatch/audit (default: otpatch/audit/ and the key's hash) (OTPATCH_AUDIT_ORIGIN)")
	cpEvery, _ := time.ParseDuration(env("AUDIT_CHECKPOINT_INTERVAL", "1m"))
	fs.DurationVar(&c.auditCheckpointEvery, "audit-checkpoint-interval", cpEvery, "longest time an audit event stays without a signed checkpoint (OTPATCH_AUDIT_CHECKPOINT_INTERVAL)")
	verifyEvery, _ := time.ParseDuration(env("AUDIT_VERIFY_INTERVAL", "1h"))
	fs.DurationVar(&c.auditVerifyEvery, "audit-verify-interval", verifyEvery, "how often the server recomputes every audit event against the checkpoints; the log's tail is checked every checkpoint interval (OTPATCH_AUDIT_VERIFY_INTERVAL)")
	fs.StringVar(&c.database, "database", env("DATABASE_URL", ""), "postgres:// URL or SQLite file (OTPATCH_DATABASE_URL)")
	fs.StringVar(&c.temporal, "temporal", env("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend host:port (OTPATCH_TEMPORAL_ADDRESS)")
	fs.StringVar(&c.namespace, "namespace", env("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (OTPATCH_TEMPORAL_NAMESPACE)")
	c.temporalClientTLS.flags(fs)
	fs.StringVar(&c.s3Endpoint, "s3-endpoint", env("S3_ENDPOINT", ""), "S3 endpoint host:port (OTPATCH_S3_ENDPOINT)")
	fs.StringVar(&c.s3Access, "s3-access-key", env("S3_ACCESS_KEY", ""), "S3 access key (OTPATCH_S3_ACCESS_KEY)")
	fs.StringVar(&c.s3Secret, "s3-secret-key", env("S3_SECRET_KEY", ""), "S3 secret key (OTPATCH_S3_SECRET_KEY)")
	fs.StringVar(&c.s3Bucket, "s3-bucket", env("S3_BUCKET", "otpatch"), "S3 bucket (OTPATCH_S3_BUCKET)")
	secure, _ := strconv.ParseBool(env("S3_SECURE", "false"))
	fs.BoolVar(&c.s3Secure, "s3-secure", secure, "use HTTPS for S3 (OTPATCH_S3_SECURE)")
	step, _ := time.ParseDuration(env("SIM_STEP", "2s"))
	fs.DurationVar(&c.simStep, "sim-step", step, "how long each simulated device operation takes (OTPATCH_SIM_STEP)")
	logJSON, _ := strconv.ParseBool(env("LOG_JSON", "false"))
	fs.BoolVar(&c.logJSON, "log-json", logJSON, "JSON logs (OTPATCH_LOG_JSON)")
	fs.StringVar(&c.metricsListen, "metrics-listen", env("METRICS_LISTEN", ""), "address for a separate Prometheus /metrics listener; the worker serves metrics only there, the server also on its API address (OTPATCH_METRICS_LISTEN)")
	c.notify.flags(fs)
	if role != roleWorker {
		c.serverFlags(fs)
	}
	if role != roleServer {
		c.devices.flags(fs)
	}
}

// serverFlags are the API's settings.
func (c *config) serverFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", env("LISTEN", "127.0.0.1:8080"), "API and UI address (OTPATCH_LISTEN)")
	maxArt, _ := strconv.ParseInt(env("MAX_ARTIFACT_BYTES", strconv.Itoa(256<<20)), 10, 64)
	fs.Int64Var(&c.maxArtifact, "max-artifact-bytes", maxArt, "largest patch upload accepted through the API (OTPATCH_MAX_ARTIFACT_BYTES)")
	maxAssets, _ := strconv.Atoi(env("MAX_CAMPAIGN_ASSETS", strconv.Itoa(domain.DefaultMaxCampaignAssets)))
	fs.IntVar(&c.maxCampaignAssets, "max-campaign-assets", maxAssets, "most targets one campaign may have, test-bench runs included (OTPATCH_MAX_CAMPAIGN_ASSETS)")
	fails, _ := strconv.Atoi(env("AUTH_FAILURES_PER_MINUTE", strconv.Itoa(api.DefaultAuthFailures)))
	fs.IntVar(&c.authFailures, "auth-failures-per-minute", fails, "failed authentications one source address may make a minute before further failures are answered 429 (OTPATCH_AUTH_FAILURES_PER_MINUTE)")
	writes, _ := strconv.Atoi(env("WRITES_PER_MINUTE", strconv.Itoa(api.DefaultWrites)))
	fs.IntVar(&c.writesPerMinute, "writes-per-minute", writes, "changes (POST, PUT, PATCH, DELETE) one identity may make a minute before further ones are answered 429 (OTPATCH_WRITES_PER_MINUTE)")
	fs.StringVar(&c.tlsCert, "tls-cert", env("TLS_CERT", ""), "PEM certificate (chain) for HTTPS on the API address (OTPATCH_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", env("TLS_KEY", ""), "PEM private key for --tls-cert (OTPATCH_TLS_KEY)")
	c.transfers.flags(fs)
	days, _ := strconv.Atoi(env("TOKEN_EXPIRY_DAYS", strconv.Itoa(int(api.DefaultTokenLifetime/day))))
	fs.IntVar(&c.tokenDays, "token-expiry-days", days, "days a new personal API token lasts when its request names no expiry (OTPATCH_TOKEN_EXPIRY_DAYS)")
	maxDays, _ := strconv.Atoi(env("TOKEN_MAX_EXPIRY_DAYS", strconv.Itoa(int(api.DefaultTokenMaxLifetime/day))))
	fs.IntVar(&c.tokenMaxDays, "token-max-expiry-days", maxDays, "the longest lifetime, in days, a personal API token may be given (OTPATCH_TOKEN_MAX_EXPIRY_DAYS)")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", env("TRUSTED_PROXIES", ""), "reverse proxies whose X-Forwarded-For names the client, for rate limits and the audit trail: addresses or CIDR prefixes, comma-separated; empty: forwarded headers are ignored (OTPATCH_TRUSTED_PROXIES)")
	c.secureCookiesSetting = env("SECURE_COOKIES", "false")
	secureCookies, _ := strconv.ParseBool(c.secureCookiesSetting)
	fs.BoolVar(&c.secureCookies, "secure-cookies", secureCookies, "mark cookies Secure on plain HTTP too: behind a TLS-terminating proxy, where browsers speak HTTPS (OTPATCH_SECURE_COOKIES)")
	c.identity.flags(fs)
}

// parseTrustedProxies reads comma-separated addresses and CIDR prefixes.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix (example 10.0.0.0/8,192.0.2.7)", f)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			p = p.Masked()
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix (example 10.0.0.0/8,192.0.2.7)", f)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q trusts every address: any client could then name any source address; list the proxy's addresses", f)
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *config) logger() *slog.Logger {
	if c.logJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// deps are the connected components of one process.
type deps struct {
	log     *slog.Logger
	store   *store.Store
	objects *artifacts.Store
	sim     *simulator.Simulator
	// adapters reach the devices, by adapter name (buildAdapters); expected is how long an
	// asset's device work takes, by adapter, for devices that site workers reach.
	adapters map[string]adapters.Target
	expected map[string]time.Duration
	tc       client.Client
	metrics  *metrics.Set
	// refusals is the API's tally of refused authentications.
	refusals *refusals.Tally
	closers  []func()
	// finalCheckpoint signs the audit log at clean shutdown, just before the database closes;
	// auditWatch closes when the audit log's watch has stopped.
	finalCheckpoint func()
	auditWatch      <-chan struct{}
	// notify is how the worker delivers notifications.
	notify notify.Settings
}

func (d *deps) close() {
	for i := len(d.closers) - 1; i >= 1; i-- {
		d.closers[i]()
	}
	// Last before the database closes (closers[0]): the audit watch has stopped, and every
	// event, the refusals flushed just now included, gets a signed checkpoint.
	if d.auditWatch != nil {
		<-d.auditWatch
	}
	if d.finalCheckpoint != nil {
		d.finalCheckpoint()
	}
	if len(d.closers) > 0 {
		d.closers[0]()
	}
}

// connect opens the database (migrating it), the object store and the Temporal client.
func (c *config) connect(ctx context.Context, log *slog.Logger) (*deps, error) {
	d := &deps{log: log, metrics: metrics.New()}
	var err error
	if d.notify, err = c.notify.settings(); err != nil {
		return nil, err
	}
	if c.database == "" {
		return nil, errors.New("no database: set OTPATCH_DATABASE_URL (postgres://… or a SQLite file)")
	}
	st, err := store.Open(c.database, store.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	d.store = st
	d.closers = append(d.closers, func() { _ = st.Close() })
	// Refused authentications reach the audit trail as one event per source and minute: a
	// ticker writes each closed minute, and closing writes the rest before the store closes.
	d.refusals = refusals.New(st, refusals.Options{Now: st.Now, Logger: log})
	d.closers = append(d.closers, func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = d.refusals.FlushAll(fctx)
	})
	if err := d.metrics.TimeAuditAppends(st.DB()); err != nil {
		d.close()
		return nil, fmt.Errorf("audit append metrics: %w", err)
	}
	// Migrated before anything writes: an existing trail becomes the audit tree first.
	if applied, err := st.Migrate(ctx); err != nil {
		d.close()
		return nil, err
	} else if len(applied) > 0 {
		log.Info("database migrated", "versions", applied)
	}
	go d.refusals.Run(ctx, 0)
	if c.s3Endpoint == "" {
		d.close()
		return nil, errors.New("no object store: set OTPATCH_S3_ENDPOINT, OTPATCH_S3_ACCESS_KEY and OTPATCH_S3_SECRET_KEY")
	}
	d.objects, err = artifacts.New(artifacts.Config{Endpoint: c.s3Endpoint, AccessKey: c.s3Access, SecretKey: c.s3Secret, Bucket: c.s3Bucket, Secure: c.s3Secure})
	if err != nil {
		d.close()
		return nil, err
	}
	if err := d.objects.EnsureBucket(ctx); err != nil {
		d.close()
		return nil, err
	}
	d.sim = simulator.New(st.DB(), c.simStep, nil)
	sdkLog := slog.New(levelFloor{Handler: log.Handler(), min: slog.LevelWarn})
	temporalTLS, err := c.temporalTLS()
	if err != nil {
		d.close()
		return nil, err
	}
	d.tc, err = client.DialContext(ctx, client.Options{HostPort: c.temporal, Namespace: c.namespace, Logger: tlog.NewStructuredLogger(sdkLog), MetricsHandler: d.metrics.SDK.Handler(),
		ConnectionOptions: client.ConnectionOptions{TLS: temporalTLS}})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("connect to Temporal at %s: %w", c.temporal, err)
	}
	d.closers = append(d.closers, d.tc.Close)
	registerSearchAttributes(ctx, log, d.tc, c.namespace)
	if err := d.startCheckpoints(ctx, c); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// levelFloor drops records below min (the SDK logs every poll at info).
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (l levelFloor) Enabled(ctx context.Context, lv slog.Level) bool {
	return lv >= l.min && l.Handler.Enabled(ctx, lv)
}

// sweep removes what an interrupted run or an abandoned presigned upload left in the object
// store: multipart uploads never completed, and artifacts of expired presigned uploads.
func (d *deps) sweep(ctx context.Context) {
	if n, err := d.objects.SweepIncomplete(ctx, ""); err != nil {
		d.log.Warn("sweeping interrupted uploads failed", "err", err)
	} else if n > 0 {
		d.log.Info("aborted uploads left by an interrupted run", "count", n)
	}
	if n, err := api.SweepExpiredUploads(ctx, d.store, d.objects); err != nil {
		d.log.Warn("sweeping expired presigned uploads failed", "err", err)
	} else if n > 0 {
		d.log.Info("removed expired presigned uploads", "count", n)
	}
}

func (d *deps) activities() *activities.Activities {
	return &activities.Activities{Store: d.store, Objects: d.objects, Adapters: d.adapters, Expected: d.expected, Log: d.log, Now: time.Now, Notify: d.notify}
}

func (d *deps) startWorker() (worker.Worker, error) {
	w := worker.New(d.tc, workflows.TaskQueue, workflows.WorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{d.metrics.WorkerInterceptor()}}))
	workflows.Register(w, d.activities())
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return w, nil
}

// day is the unit of the token lifetime settings.
const day = 24 * time.Hour

func (d *deps) handler(c *config) (http.Handler, error) {
	deps := api.Deps{Store: d.store, Objects: d.objects, Temporal: d.tc, Simulator: d.sim, Logger: d.log, MaxArtifactBytes: c.maxArtifact, MaxCampaignAssets: c.maxCampaignAssets, UI: ui.Handler(),
		Limits: api.Limits{AuthFailures: c.authFailures, Writes: c.writesPerMinute}, Refusals: d.refusals, Counters: d.metrics,
		TokenLifetime: time.Duration(c.tokenDays) * day, TokenMaxLifetime: time.Duration(c.tokenMaxDays) * day}
	if err := c.identity.apply(&deps); err != nil {
		return nil, err
	}
	proxies, err := parseTrustedProxies(c.trustedProxies)
	if err != nil {
		return nil, fmt.Errorf("OTPATCH_TRUSTED_PROXIES: %w", err)
	}
	deps.TrustedProxies, deps.SecureCookies = proxies, c.secureCookies
	if err := d.wireTransfers(c, &deps); err != nil {
		return nil, err
	}
	return api.New(deps), nil
}

// serve runs the HTTP server until ctx is done, then shuts it down gracefully.
func serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler, ready func(url string)) error {
	return serveTLS(ctx, log, addr, h, "", "", ready)
}

// serveTLS is serve over HTTPS when certFile and keyFile are set (TLS 1.2 or later).
func serveTLS(ctx context.Context, log *slog.Logger, addr string, h http.Handler, certFile, keyFile string, ready func(url string)) error {
	if (certFile == "") != (keyFile == "") {
		return errors.New("HTTPS needs both --tls-cert and --tls-key (OTPATCH_TLS_CERT, OTPATCH_TLS_KEY)")
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	scheme := "http"
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if srv.TLSConfig != nil {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(scheme + "://" + ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func runServer(ctx context.Context, args []string) error {
	var c config
	fs := newFlags("server")
	c.flags(fs.FlagSet, roleServer)
	if err := fs.noArgs(args); err != nil {
		return err
	}
	log := c.logger()
	d, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer d.close()
	d.sweep(ctx)
	go d.reconcile(ctx)
	go d.scheduleNotifications(ctx, c.notify.every)
	d.databaseGauges()
	if c.metricsListen != "" {
		serveMetrics(ctx, log, c.metricsListen, d.metrics)
	}
	// Agents' long polls wake when a worker queues a job for them.
	if err := d.store.ListenAgentJobs(ctx); err != nil {
		return err
	}
	go d.store.RunAgentLiveness(ctx) // agents' last contact, written every few seconds
	d.watchSites(ctx)
	h, err := d.handler(&c)
	if err != nil {
		return err
	}
	return serveTLS(ctx, log, c.listen, withMetrics(d.metrics, h), c.tlsCert, c.tlsKey, func(url string) { log.Info("otpatch server listening", "url", url) })
}

func runWorker(ctx context.Context, args []string) error {
	var c config
	fs := newFlags("worker")
	c.flags(fs.FlagSet, roleWorker)
	site := fs.String("site", env("SITE", ""), "run as the site worker of this site: poll only its task queue and do only its device work, with no database (OTPATCH_SITE)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	_, siteSet := os.LookupEnv("OTPATCH_SITE")
	fs.Visit(func(f *flag.Flag) { siteSet = siteSet || f.Name == "site" })
	if siteSet {
		// An empty site is a site worker set up wrong, not a central worker.
		return runSiteWorker(ctx, &c, *site)
	}
	log := c.logger()
	d, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer d.close()
	// Only workers reach devices: the server needs neither their keys nor the job-signing key.
	if err := d.buildAdapters(ctx, &c); err != nil {
		return err
	}
	// The agent adapter learns at once that an agent reported a job's result.
	if err := d.store.ListenAgentJobs(ctx); err != nil {
		return err
	}
	w, err := d.startWorker()
	if err != nil {
		return err
	}
	if c.metricsListen != "" {
		serveMetrics(ctx, log, c.metricsListen, d.metrics)
	}
	log.Info("otpatch worker polling", "task_queue", workflows.TaskQueue, "temporal", c.temporal)
	<-ctx.Done()
	w.Stop()
	return nil
}

func runMigrate(ctx context.Context, args []string) error {
	fs := newFlags("migrate")
	dsn := fs.String("database", env("DATABASE_URL", ""), "postgres:// URL or SQLite file (OTPATCH_DATABASE_URL)")
	var c config
	fs.StringVar(&c.temporal, "temporal", env("TEMPORAL_ADDRESS", ""), "also register otpatch's search attributes in the namespace of this Temporal frontend host:port (OTPATCH_TEMPORAL_ADDRESS)")
	fs.StringVar(&c.namespace, "namespace", env("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (OTPATCH_TEMPORAL_NAMESPACE)")
	c.temporalClientTLS.flags(fs.FlagSet)
	if err := fs.noArgs(args); err != nil {
		return err
	}
	if *dsn == "" {
		return fs.usageError("no database: give --database or set OTPATCH_DATABASE_URL (postgres://… or a SQLite file)")
	}
	st, err := store.Open(*dsn, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	v, _ := st.SchemaVersion(ctx)
	fmt.Printf("schema at version %d (applied now: %v)\n", v, applied)
	if c.temporal == "" {
		return nil
	}
	temporalTLS, err := c.temporalTLS()
	if err != nil {
		return err
	}
	tc, err := client.DialContext(ctx, client.Options{HostPort: c.temporal, Namespace: c.namespace, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		ConnectionOptions: client.ConnectionOptions{TLS: temporalTLS}})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", c.temporal, err)
	}
	defer tc.Close()
	added, err := engine.RegisterSearchAttributes(ctx, tc, c.namespace)
	if err != nil {
		return err
	}
	fmt.Printf("search attributes of namespace %s: %d added %v, all of %v present\n", c.namespace, len(added), added, slices.Sorted(maps.Keys(workflows.SearchAttributeTypes())))
	return nil
}

// registerSearchAttributes adds otpatch's search attributes to the namespace when it lacks
// them. Without them (a namespace whose operator keeps the rights to itself) workflows run all
// the same, without their labels in the Temporal UI.
func registerSearchAttributes(ctx context.Context, log *slog.Logger, tc client.Client, namespace string) {
	added, err := engine.RegisterSearchAttributes(ctx, tc, namespace)
	switch {
	case err != nil:
		log.Warn("otpatch's search attributes could not be registered; workflows run without them (have an operator run otpatch migrate --temporal)", "namespace", namespace, "err", err)
	case len(added) > 0:
		log.Info("registered otpatch's search attributes", "namespace", namespace, "added", added)
	}
}

func runHealthcheck(ctx context.Context, args []string) error {
	fs := newFlags("healthcheck")
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "the server's /healthz URL (or the server's URL: /healthz is added)")
	ca := fs.String("ca", env("HEALTHCHECK_CA", env("TLS_CERT", "")), "PEM certificates to trust for an https:// URL, besides the system's (OTPATCH_HEALTHCHECK_CA; default: OTPATCH_TLS_CERT, the server's own)")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := http.DefaultClient
	if *ca != "" && strings.HasPrefix(*url, "https://") {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return fmt.Errorf("healthcheck: read --ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("healthcheck: %s holds no PEM certificate", *ca)
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	return checkHealth(ctx, client, *url)
}
