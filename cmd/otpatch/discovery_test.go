package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiscoveryImportCLI imports an nmap XML report with `otpatch discovery import`: the PLC
// no asset knows is listed by `otpatch discovery list`; a report with a bad host fails the
// command with the host named and changes nothing.
func TestDiscoveryImportCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts otpatch dev")
	}
	dir := t.TempDir()
	addr := freePort(t)
	startDev(t, dir, addr)
	tokens := readTokens(t, dir)
	report := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<nmaprun scanner="nmap" args="nmap -sn -oX scan.xml 10.20.0.0/24" start="1767607200" version="7.93" xmloutputversion="1.05">
<host><status state="up" reason="arp-response"/>
<address addr="10.20.0.5" addrtype="ipv4"/>
<address addr="00:1B:1B:AA:00:05" addrtype="mac" vendor="Siemens AG"/>
<hostnames><hostname name="plc-x.plant.example" type="PTR"/></hostnames>
</host>
</nmaprun>
`
	good, bad := filepath.Join(dir, "scan.xml"), filepath.Join(dir, "bad.xml")
	if err := os.WriteFile(good, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(report, "10.20.0.5", "10.20.0.500", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	bin, _ := binary()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--url", "http://"+addr, "--token", tokens["engineer"])...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("discovery", "import", bad); err == nil || !strings.Contains(out, "host 1: address") || !strings.Contains(out, "10.20.0.500") {
		t.Errorf("a bad report: %v\n%s", err, out)
	}
	if out, err := run("discovery", "list"); err != nil || strings.Contains(out, "10.20.0.5") {
		t.Errorf("after a refused report the list shows: %v\n%s", err, out)
	}
	if out, err := run("discovery", "import", good); err != nil || !strings.Contains(out, "1 new unknown devices") {
		t.Errorf("import: %v\n%s", err, out)
	}
	if out, err := run("discovery", "list"); err != nil || !strings.Contains(out, "plc-x.plant.example") || !strings.Contains(out, "10.20.0.5") {
		t.Errorf("the list after the import: %v\n%s", err, out)
	}

	// The demo plant's device work is central: no site worker to ask.
	if out, err := run("discovery", "sites"); err != nil || !strings.Contains(out, "no site runs its device work on site workers") {
		t.Errorf("discovery sites: %v\n%s", err, out)
	}

	// The demo's agents reported their simulated gateways, which the server took: each agent
	// asset shows the host its agent said it runs on, and no unknown device was raised for them.
	waitFor(t, "the demo agents' host reports", func() (bool, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/endpoints?adapter=agent", nil)
		req.Header.Set("Authorization", "Bearer "+tokens["engineer"])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer res.Body.Close()
		var page struct {
			Items []struct {
				Name string `json:"name"`
				Host *struct {
					Hostname  string `json:"hostname"`
					MachineID string `json:"machine_id"`
				} `json:"host"`
			} `json:"items"`
		}
		if err := json.NewDecoder(res.Body).Decode(&page); err != nil || len(page.Items) == 0 {
			return false, fmt.Sprintf("%s %v", res.Status, err)
		}
		for _, it := range page.Items {
			if it.Host == nil || it.Host.Hostname != it.Name || it.Host.MachineID == "" {
				return false, fmt.Sprintf("%s: host %+v", it.Name, it.Host)
			}
		}
		return true, ""
	})
	if out, err := run("discovery", "list"); err != nil || strings.Contains(out, "gw-agent") {
		t.Errorf("the demo's own gateways are unknown devices: %v\n%s", err, out)
	}
}
