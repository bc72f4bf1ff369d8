package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"

	"github.com/otpatch/otpatch/internal/agent/jobs"
)

// LocalHost reads what the agent reports of its own host: its name, machine ID, operating
// system, and the addresses and MACs of its network interfaces that are up, loopback left out.
func LocalHost() (jobs.Host, error) {
	name, err := os.Hostname()
	if err != nil {
		return jobs.Host{}, err
	}
	h := jobs.Host{Hostname: name, OS: runtime.GOOS}
	for _, f := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(f); err == nil && len(bytes.TrimSpace(b)) > 0 {
			h.MachineID = string(bytes.TrimSpace(b))
			break
		}
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
				h.OS = runtime.GOOS + " " + strings.Trim(v, `"'`)
			}
		}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return h, nil // the name alone still identifies the host
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		if len(i.HardwareAddr) == 6 && len(h.MACs) < 64 {
			h.MACs = append(h.MACs, i.HardwareAddr.String())
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() && len(h.Addresses) < 64 {
				h.Addresses = append(h.Addresses, ipn.IP.String())
			}
		}
	}
	return h, nil
}

// reportHost tells otpatch what host the agent runs on; otpatch raises an alarm when no asset
// knows it. A report that fails is logged: the agent's jobs do not wait on it.
func (a *Agent) reportHost(ctx context.Context) {
	h, err := a.cfg.Host()
	if err != nil {
		a.cfg.Log.Warn("cannot read this host's identity; it is not reported", "err", err)
		return
	}
	body, _ := json.Marshal(h)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.cfg.Server, "/")+"/api/v1/agent/host", bytes.NewReader(body))
	if err != nil {
		a.cfg.Log.Warn("reporting this host to otpatch failed", "err", err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "otpatch-agent")
	res, err := a.cfg.Client.Do(req)
	if err != nil {
		a.cfg.Log.Warn("reporting this host to otpatch failed", "err", err)
		return
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	var rec jobs.HostReceipt
	switch {
	case res.StatusCode != http.StatusOK || json.Unmarshal(answer, &rec) != nil:
		a.cfg.Log.Warn("otpatch refused this host's report", "status", res.StatusCode, "answer", strings.TrimSpace(string(answer)))
	case !rec.Known:
		a.cfg.Log.Warn("otpatch does not know this host: an alarm asks a person to claim it for an asset or reject it", "hostname", h.Hostname, "discovery_id", rec.DiscoveryID)
	default:
		a.cfg.Log.Info("otpatch knows this host", "hostname", h.Hostname, "asset_id", rec.AssetID)
	}
}
