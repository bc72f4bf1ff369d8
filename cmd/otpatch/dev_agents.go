//go:build !noembedded

package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/agent"
	"github.com/otpatch/otpatch/internal/agent/jobs"
	"github.com/otpatch/otpatch/internal/demo"
	"github.com/otpatch/otpatch/internal/hostops"
	"github.com/otpatch/otpatch/internal/store"
)

// The demo's agent gateways: each has a device folder under DATA/devices and an agent in this
// process that dials out to otpatch over HTTPS — a listener of its own on loopback with a demo
// certificate in DATA/tls — with a token bound to its asset (DATA/agents/NAME.token) and the
// pinned job-signing key. The agents run exactly the code of `otpatch agent`.

// startDemoAgents seeds the agent gateways (once), starts the HTTPS listener for agents and
// one agent per gateway. They stop with ctx.
func startDemoAgents(ctx context.Context, c *config, d *deps, dataDir string, h http.Handler, log *slog.Logger) error {
	if _, ok := d.adapters[adapters.Agent]; !ok {
		return errors.New("the agent adapter is not configured in this process")
	}
	endpoints, err := demo.ProvisionAgentGateways(dataDir)
	if err != nil {
		return err
	}
	if err := demo.SeedGateways(ctx, d.store, demo.AgentGateways, endpoints); err != nil {
		return err
	}
	key, err := loadOrCreateJobKey(agentSigningKeyFile(c))
	if err != nil {
		return err
	}
	certFile, keyFile, err := selfSignedCertificate(filepath.Join(dataDir, "tls"), "agents", net.IPv4(127, 0, 0, 1))
	if err != nil {
		return err
	}
	client, err := agent.NewHTTPClient(certFile, "", "")
	if err != nil {
		return err
	}
	agentDir := filepath.Join(dataDir, "agents")
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		return err
	}
	type gateway struct{ name, token, device string }
	var gws []gateway
	for _, g := range demo.AgentGateways {
		token, err := demoAgentToken(ctx, d.store, filepath.Join(agentDir, g.Name+".token"), "ast_"+g.Name)
		if err != nil {
			return fmt.Errorf("agent of %s: %w", g.Name, err)
		}
		device, err := filepath.Abs(demo.DeviceDir(dataDir, g.Name))
		if err != nil {
			return err
		}
		gws = append(gws, gateway{g.Name, token, device})
	}
	go func() {
		err := serveTLS(ctx, log, "127.0.0.1:0", h, certFile, keyFile, func(url string) {
			fmt.Printf("  agents:      %s (demo agents for %d gateways, certificate %s)\n", url, len(gws), certFile)
			for _, g := range gws {
				dev, name := g.device, g.name
				a, err := agent.New(agent.Config{Server: url, AssetID: "ast_" + g.name, Token: g.token, SigningKey: key.Public().(ed25519.PublicKey),
					StateDir: filepath.Join(agentDir, g.name), Client: client, Wait: 10 * time.Second, ProgressEvery: 2 * time.Second,
					Device: func(ep adapters.Endpoint) agent.Device {
						return &hostops.Host{Run: hostops.Local{Dir: dev}, Endpoint: ep}
					},
					// Each demo gateway is a simulated host of its own, known by its asset's name,
					// with a machine ID of its own; the machine they all run on is no device of
					// the demo plant.
					Host: func() (jobs.Host, error) { return demoGatewayHost(name), nil },
					Log:  log.With("agent", g.name)})
				if err != nil {
					log.Error("demo agent not started", "gateway", g.name, "err", err)
					continue
				}
				go func() {
					if err := a.Run(ctx); err != nil && ctx.Err() == nil {
						log.Error("demo agent stopped", "gateway", g.name, "err", err)
					}
				}()
			}
		})
		if err != nil && ctx.Err() == nil {
			log.Error("HTTPS listener for the demo agents stopped", "err", err)
		}
	}()
	return nil
}

// demoAgentToken returns the token of the asset's demo agent, issuing a credential the first time.
func demoAgentToken(ctx context.Context, st *store.Store, file, assetID string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		return string(b), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	secret := "otpa_" + randomHex(24)
	ev := store.Event{Actor: "demo-seed", Role: "system", Action: "agent.credential_issued"}
	if _, err := st.IssueAgentCredential(ctx, assetID, "demo-seed", secret, ev); err != nil {
		return "", err
	}
	return secret, os.WriteFile(file, []byte(secret), 0o600)
}

// demoGatewayHost is what a demo gateway's agent says of its simulated host.
func demoGatewayHost(name string) jobs.Host {
	sum := sha256.Sum256([]byte("otpatch demo gateway " + name))
	return jobs.Host{Hostname: name, MachineID: hex.EncodeToString(sum[:16]), OS: "simulated gateway (otpatch demo plant)"}
}
