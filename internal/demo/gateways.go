package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/demo/sshdevice"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// The demo's real devices: Northwind's EdgeGateway, a Linux gateway that otpatch reaches over
// SSH (a demo SSH device on loopback per gateway) or through an agent that dials out. Each
// device is a folder under DIR/devices; its firmware version and configuration are files there.
// One gateway per adapter reports a fault after every install, so a campaign over all of them
// shows verify failing and otpatch putting the backup back.

// Gateway is one demo gateway.
type Gateway struct {
	Name    string
	Zone    string
	Adapter string
	// Faulty gateways trip their watchdog after an install (sshdevice.FaultMarker).
	Faulty bool
}

// GatewayProductID is the catalogue id of the demo gateway product.
const GatewayProductID = "prd_nw_gateway"

// GatewayVersion is what the demo gateways run before they are patched.
const GatewayVersion = "1.0.0"

// SSHGateways are the demo gateways reached over SSH.
var SSHGateways = []Gateway{
	{Name: "bench-gateway", Zone: "zone_bench", Adapter: adapters.SSH},
	{Name: "pkg-gw-01", Zone: "zone_packaging", Adapter: adapters.SSH},
	{Name: "pkg-gw-02", Zone: "zone_packaging", Adapter: adapters.SSH, Faulty: true},
}

// AgentGateways are the demo gateways reached through an agent that dials out.
var AgentGateways = []Gateway{
	{Name: "pkg-gw-agent-01", Zone: "zone_packaging", Adapter: adapters.Agent},
	{Name: "pkg-gw-agent-02", Zone: "zone_packaging", Adapter: adapters.Agent, Faulty: true},
}

// ProvisionAgentGateways lays out (once) the agent gateways' device folders under dir and
// returns their endpoints: their configuration and firmware are the backup.
func ProvisionAgentGateways(dir string) (map[string]adapters.Endpoint, error) {
	out := map[string]adapters.Endpoint{}
	for _, g := range AgentGateways {
		root, err := filepath.Abs(DeviceDir(dir, g.Name))
		if err != nil {
			return nil, err
		}
		if err := provisionGateway(root, g.Faulty); err != nil {
			return nil, err
		}
		out[g.Name] = adapters.Endpoint{BackupPaths: []string{filepath.Join(root, "etc"), filepath.Join(root, "firmware")}}
	}
	return out, nil
}

// DeviceDir is the folder of a demo gateway.
func DeviceDir(dir, name string) string { return filepath.Join(dir, "devices", name) }

// SSHDevices are the running demo SSH gateways and what the worker needs to reach them.
type SSHDevices struct {
	// KeyFile is otpatch's client key and KnownHostsFile pins every device's host key.
	KeyFile, KnownHostsFile string
	// Endpoints are by gateway name.
	Endpoints map[string]adapters.Endpoint
	devices   []*sshdevice.Device
}

// Close stops the devices.
func (d *SSHDevices) Close() {
	for _, dev := range d.devices {
		_ = dev.Close()
	}
}

// StartSSHGateways lays out (once) and starts the demo SSH gateways under dir, with a client
// key in dir/ssh/client.key and their host keys pinned in dir/ssh/known_hosts.
func StartSSHGateways(ctx context.Context, dir string) (*SSHDevices, error) {
	sshDir := filepath.Join(dir, "ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return nil, err
	}
	keyFile := filepath.Join(sshDir, "client.key")
	signer, err := clientKey(keyFile)
	if err != nil {
		return nil, err
	}
	out := &SSHDevices{KeyFile: keyFile, KnownHostsFile: filepath.Join(sshDir, "known_hosts"), Endpoints: map[string]adapters.Endpoint{}}
	var known strings.Builder
	for _, g := range SSHGateways {
		root := DeviceDir(dir, g.Name)
		if err := provisionGateway(root, g.Faulty); err != nil {
			out.Close()
			return nil, err
		}
		dev, err := sshdevice.Start(ctx, root, signer.PublicKey())
		if err != nil {
			out.Close()
			return nil, fmt.Errorf("demo gateway %s: %w", g.Name, err)
		}
		out.devices = append(out.devices, dev)
		out.Endpoints[g.Name] = dev.Endpoint("otpatch")
		known.WriteString(dev.HostKeyLine() + "\n")
	}
	if err := os.WriteFile(out.KnownHostsFile, []byte(known.String()), 0o600); err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

// provisionGateway lays a gateway running GatewayVersion out in root, once.
func provisionGateway(root string, faulty bool) error {
	if err := sshdevice.Provision(root, GatewayVersion); err != nil {
		return err
	}
	if faulty {
		return os.WriteFile(filepath.Join(root, sshdevice.FaultMarker), []byte("this demo gateway's watchdog trips after every install\n"), 0o644)
	}
	return nil
}

func clientKey(file string) (gossh.Signer, error) {
	if b, err := os.ReadFile(file); err == nil {
		return gossh.ParsePrivateKey(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "otpatch demo worker")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return gossh.NewSignerFromKey(priv)
}

// SeedGateways adds the gateway product and the given gateways (once) and brings their
// endpoints up to date (a demo device may listen on a new port after a restart).
func SeedGateways(ctx context.Context, st *store.Store, gateways []Gateway, endpoints map[string]adapters.Endpoint) error {
	ev := func(action string) store.Event {
		return store.Event{Actor: "demo-seed", Role: "system", Action: action}
	}
	if _, err := st.ProductByName(ctx, "vnd_northwind", "EdgeGateway"); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		p := store.Product{ID: GatewayProductID, VendorID: "vnd_northwind", Name: "EdgeGateway", Kind: "gateway"}
		if err := st.CreateProduct(ctx, &p, ev("product.created")); err != nil {
			return err
		}
	}
	for _, g := range gateways {
		ep, ok := endpoints[g.Name]
		if !ok {
			continue
		}
		id := "ast_" + g.Name
		as, err := st.Asset(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			as = store.Asset{ID: id, ZoneID: g.Zone, ProductID: GatewayProductID, Name: g.Name, InstalledVersion: GatewayVersion,
				Criticality: 2, Adapter: g.Adapter, Endpoint: &ep}
			if err := st.CreateAsset(ctx, &as, ev("asset.created")); err != nil {
				return err
			}
			continue
		} else if err != nil {
			return err
		}
		if as.Endpoint == nil || !sameEndpoint(*as.Endpoint, ep) {
			e := ev("asset.endpoint_set")
			e.Details = map[string]any{"from": as.Endpoint, "to": ep}
			if err := st.SetAssetEndpoint(ctx, id, ep, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameEndpoint(a, b adapters.Endpoint) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// GatewayManifest is Northwind's manifest for the demo gateway firmware 2.0.0, without its
// artifact list (otpatch vendor sign adds it).
func GatewayManifest() domain.Manifest {
	return domain.Manifest{
		Schema: domain.ManifestSchemaVersion, Vendor: "northwind", Product: "EdgeGateway", PatchID: "NW-SA-2026-031", Version: "2.0.0",
		Title: "EdgeGateway firmware: OPC UA server hardening", ReleaseDate: "2026-11-24", AffectedVersions: []string{"< 2.0.0"},
		FixedVersion: "2.0.0", CVEs: []domain.CVE{{ID: "CVE-2026-40112", CVSS: 7.5}}, RestartRequired: "service",
		Install: sshdevice.InstallStep, Verify: sshdevice.VerifyStep, Rollback: sshdevice.RollbackStep,
		Compatibility: []domain.CompatibilityRow{{ProductVersion: GatewayVersion, Status: "qualified"}},
		Artifacts:     []domain.ArtifactRef{},
	}
}

// GatewayArtifact is the name of the demo gateway installer.
const GatewayArtifact = "gw-update-2.0.0.sh"

// WriteGatewayPatch writes the vendor's patch for the demo gateways to DIR/demo-gateway: the
// installer, and a manifest to sign (kept as the vendor left it once it exists).
func WriteGatewayPatch(dir string) error {
	dir = filepath.Join(dir, "demo-gateway")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, GatewayArtifact), sshdevice.Installer, 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return nil // kept as the vendor left it (otpatch vendor sign fills in the artifacts)
	}
	b, _ := json.MarshalIndent(GatewayManifest(), "", "  ")
	return os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644)
}
