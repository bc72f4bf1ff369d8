//go:build !noembedded

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/s3embed"
	"github.com/otpatch/otpatch/internal/temporalembed"
)

// devCredentials are the embedded S3 endpoint's keys, made once per data folder.
type devCredentials struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

func loadDevCredentials(dir string) (devCredentials, error) {
	path := filepath.Join(dir, "s3-credentials.json")
	var c devCredentials
	if b, err := os.ReadFile(path); err == nil {
		return c, json.Unmarshal(b, &c)
	}
	c = devCredentials{AccessKey: "otpatch-" + randomHex(6), SecretKey: randomHex(24)}
	b, _ := json.Marshal(c)
	return c, os.WriteFile(path, b, 0o600)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func runDev(ctx context.Context, args []string) error {
	var c config
	fs := newFlags("dev")
	c.flags(fs.FlagSet, roleDev)
	dataDir := fs.String("data", env("DATA", "./otpatch-data"), "data folder (OTPATCH_DATA)")
	seed := fs.Bool("demo", false, "seed a demo plant and print its tokens")
	temporalAddr := fs.String("temporal-listen", env("TEMPORAL_LISTEN", temporalembed.DefaultFrontendAddr), "embedded Temporal frontend address, fixed so that the Temporal CLI and UI find it; 127.0.0.1:0 picks a free port (OTPATCH_TEMPORAL_LISTEN)")
	noWorker := fs.Bool("no-worker", false, "run no worker in this process; a separate otpatch worker connects to the printed Temporal, database and S3")
	if err := fs.noArgs(args); err != nil {
		return err
	}
	log := c.logger()
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	started := time.Now()
	ts, err := temporalembed.Start(ctx, temporalembed.Config{DBPath: filepath.Join(*dataDir, "temporal.db"), FrontendAddr: *temporalAddr, Logger: log})
	if errors.Is(err, temporalembed.ErrFrontendInUse) {
		return fmt.Errorf("the embedded Temporal server's address %s is in use (is another otpatch dev or Temporal server running?): stop it, or give this one another address with --temporal-listen 127.0.0.1:PORT (127.0.0.1:0 picks a free port)", *temporalAddr)
	}
	if err != nil {
		return err
	}
	defer ts.Stop()
	c.database = filepath.Join(*dataDir, "otpatch.db")
	if c.checkpointKey == "" {
		c.checkpointKey = filepath.Join(*dataDir, "audit-checkpoint.key")
	}
	if c.transfers.key == "" {
		c.transfers.key = filepath.Join(*dataDir, "transfer.key")
	}
	c.temporal, c.namespace = ts.HostPort(), ts.Namespace()
	endpoint := c.s3Endpoint
	if endpoint == "" {
		// The embedded S3 endpoint over the data folder; OTPATCH_S3_ENDPOINT selects another.
		creds, err := loadDevCredentials(*dataDir)
		if err != nil {
			return err
		}
		s3, err := s3embed.New(s3embed.Config{Dir: filepath.Join(*dataDir, "objects"), AccessKey: creds.AccessKey, SecretKey: creds.SecretKey})
		if err != nil {
			return err
		}
		defer s3.Close()
		// Served until s3.Close, deferred above, not until ctx ends: the shutdown that ctx
		// starts still writes to it (the final audit checkpoint).
		if endpoint, err = s3.Listen(context.WithoutCancel(ctx), "127.0.0.1:0"); err != nil {
			return err
		}
		c.s3Endpoint, c.s3Access, c.s3Secret, c.s3Secure = endpoint, creds.AccessKey, creds.SecretKey, false
	}
	var gateways *demo.SSHDevices
	if *seed && c.devices.sshKey == "" {
		// The demo's Linux gateways, reached over SSH by the worker's ssh adapter.
		if gateways, err = demo.StartSSHGateways(ctx, *dataDir); err != nil {
			return fmt.Errorf("demo gateways: %w", err)
		}
		defer gateways.Close()
		c.devices.sshKey, c.devices.sshKnownHosts = gateways.KeyFile, gateways.KnownHostsFile
		// A demo gateway changes in a second or two; its zone's window is 100 s long.
		if env("SSH_EXPECTED_DURATION", "") == "" {
			c.devices.sshExpected = 20 * time.Second
		}
		if env("AGENT_EXPECTED_DURATION", "") == "" {
			c.devices.agentExpected = 20 * time.Second
		}
	}
	d, err := c.connect(ctx, log)
	if err != nil {
		return err
	}
	defer d.close()
	if err := d.buildAdapters(ctx, &c); err != nil {
		return err
	}
	d.sweep(ctx)
	go d.reconcile(ctx)
	go d.scheduleNotifications(ctx, c.notify.every)
	var tokens *demo.Tokens
	if *seed {
		seeded, err := demo.Seeded(ctx, d.store)
		if err != nil {
			return err
		}
		var t demo.Tokens
		if seeded {
			t, err = demo.LoadTokens(*dataDir)
		} else {
			t, err = demo.Seed(ctx, d.store, d.sim, *dataDir)
		}
		if err != nil {
			return fmt.Errorf("demo plant: %w", err)
		}
		if gateways != nil {
			if err := demo.SeedGateways(ctx, d.store, demo.SSHGateways, gateways.Endpoints); err != nil {
				return fmt.Errorf("demo gateways: %w", err)
			}
		}
		if err := demo.WriteGatewayPatch(*dataDir); err != nil {
			return fmt.Errorf("demo gateways: %w", err)
		}
		tokens = &t
	}
	if !*noWorker {
		w, err := d.startWorker()
		if err != nil {
			return err
		}
		defer w.Stop()
	}
	h, err := d.handler(&c)
	if err != nil {
		return err
	}
	if err := d.store.ListenAgentJobs(ctx); err != nil { // a worker of its own may queue agent jobs
		return err
	}
	go d.store.RunAgentLiveness(ctx) // agents' last contact, written every few seconds
	d.watchSites(ctx)
	// /metrics as otpatch server serves it: on the API address, and on --metrics-listen.
	d.databaseGauges()
	if c.metricsListen != "" {
		serveMetrics(ctx, log, c.metricsListen, d.metrics)
	}
	h = withMetrics(d.metrics, h)
	if *seed {
		if err := startDemoAgents(ctx, &c, d, *dataDir, h, log); err != nil {
			return fmt.Errorf("demo agents: %w", err)
		}
	}
	return serveTLS(ctx, log, c.listen, h, c.tlsCert, c.tlsKey, func(url string) { // HTTPS with --tls-cert/--tls-key (pull agent)
		fmt.Printf("otpatch %s is running at %s (started in %s)\n", currentVersion().version, url, time.Since(started).Round(time.Millisecond))
		fmt.Printf("  data folder: %s\n  Temporal:    %s (namespace %s); inspect it with: temporal workflow list --address %s\n  S3:          http://%s (bucket %s)\n", *dataDir, c.temporal, c.namespace, c.temporal, endpoint, c.s3Bucket)
		if *noWorker {
			fmt.Printf("  no worker in this process (--no-worker): run otpatch worker with OTPATCH_DATABASE_URL=%s OTPATCH_TEMPORAL_ADDRESS=%s OTPATCH_S3_ENDPOINT=%s and the keys in %s\n",
				c.database, c.temporal, endpoint, filepath.Join(*dataDir, "s3-credentials.json"))
		}
		if tokens != nil {
			fmt.Printf("demo tokens (also in %s):\n", filepath.Join(*dataDir, demo.TokensFile))
			b, _ := json.MarshalIndent(tokens, "  ", "  ")
			fmt.Printf("  %s\n", b)
			fmt.Printf("demo vendor signing keys: %s\n", filepath.Join(*dataDir, "demo-keys"))
			fmt.Printf("sign in to the web UI at %s as any demo user above (erin-engineer, otto-operations, sofia-safety, aude-auditor, adam-admin, ada-admin, acme-release) with the password %s\n", url, tokens.Password)
		}
	})
}
