package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/store"
)

// nmapReport is what nmap -sn -O -oX writes for a scan of three addresses: a PLC nmap found
// up on the same network (so with its MAC and the MAC's vendor, its DNS name and OS guesses),
// a host found down, and the demo's HMI, named by the person who scanned it (%s).
const nmapReport = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE nmaprun>
<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
<nmaprun scanner="nmap" args="nmap -O -oX scan.xml 10.20.0.0/24" start="1767607200" startstr="Mon Jan  5 10:00:00 2026" version="7.93" xmloutputversion="1.05">
<host starttime="1767607201" endtime="1767607230"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="10.20.0.5" addrtype="ipv4"/>
<address addr="00:1B:1B:AA:00:05" addrtype="mac" vendor="Siemens AG"/>
<hostnames><hostname name="plc-x.plant.example" type="PTR"/></hostnames>
<os><osmatch name="Siemens SIMATIC 300 programmable logic controller" accuracy="92" line="10000"/><osmatch name="Siemens SIMATIC S7-1500 PLC" accuracy="96" line="10001"/></os>
</host>
<host><status state="down" reason="no-response" reason_ttl="0"/>
<address addr="10.20.0.6" addrtype="ipv4"/>
</host>
<host starttime="1767607201" endtime="1767607240"><status state="up" reason="echo-reply" reason_ttl="63"/>
<address addr="10.20.7.77" addrtype="ipv4"/>
<hostnames><hostname name="%s" type="user"/><hostname name="hmi.plant.example" type="PTR"/></hostnames>
</host>
<runstats><finished time="1767607260" timestr="Mon Jan  5 10:01:00 2026" elapsed="60.00" exit="success"/><hosts up="2" down="1" total="3"/></runstats>
</nmaprun>
`

// TestDiscoveryImportNmap: an engineer imports nmap's XML report of a scan. The PLC no asset
// knows becomes a discovery with its MAC, vendor, DNS name, nmap's best OS guess and the time
// nmap saw it, and raises the alarm; the host found down is left out; the HMI the scanner
// named is known. A report with a bad host, or that is no nmap report, changes nothing.
func TestDiscoveryImportNmap(t *testing.T) {
	e := newEnv(t, envOptions{})
	var assets struct {
		Items []store.Asset `json:"items"`
	}
	if code := e.call("GET", "/api/v1/assets", e.tokens.Engineer, nil, &assets); code != http.StatusOK || len(assets.Items) == 0 {
		t.Fatalf("assets: %d", code)
	}
	report := strings.Replace(nmapReport, "%s", assets.Items[0].Name, 1)

	for _, c := range []struct {
		name, contentType, body, names string
		status                         int
	}{
		{"a bad address", "application/xml", strings.Replace(report, "10.20.7.77", "10.20.7.777", 1), `host 3: address`, http.StatusUnprocessableEntity},
		{"a bad MAC", "application/xml", strings.Replace(report, "00:1B:1B:AA:00:05", "00:1B", 1), `host 1: address`, http.StatusUnprocessableEntity},
		{"not XML", "application/xml", "<nmaprun><host>", `body`, http.StatusUnprocessableEntity},
		{"another XML document", "application/xml", `<?xml version="1.0"?><inventory><host/></inventory>`, `not an nmap XML report`, http.StatusUnprocessableEntity},
		{"no host up", "application/xml", strings.Replace(report, `state="up"`, `state="down"`, -1), `none was up`, http.StatusUnprocessableEntity},
		{"XML as JSON", "application/json", report, "", http.StatusUnsupportedMediaType},
	} {
		code, prob := e.importSightingsAs(c.contentType, c.body)
		b, _ := json.Marshal(prob)
		if code != c.status || !strings.Contains(string(b), c.names) {
			t.Errorf("%s: %d %s, want %d naming %q", c.name, code, b, c.status, c.names)
		}
	}
	if ds := e.discoveries(""); len(ds) != 0 {
		t.Fatalf("refused reports made %d discoveries", len(ds))
	}
	if open, _ := e.unknownDeviceAlarms(); open != 0 {
		t.Fatalf("refused reports raised %d alarms", open)
	}

	code, res := e.importSightingsAs("application/xml; charset=utf-8", report)
	if code != http.StatusOK || res["rows"] != 2.0 || res["new"] != 1.0 || res["known"] != 1.0 || res["alarms"] != 1.0 {
		t.Fatalf("import: %d %v, want 2 hosts up: 1 new with an alarm, 1 known", code, res)
	}
	ds := e.discoveries(store.DiscoveryOpen)
	if len(ds) != 1 {
		t.Fatalf("%d open discoveries, want 1: %+v", len(ds), ds)
	}
	plc := ds[0]
	if plc.Hostname != "plc-x.plant.example" || plc.Vendor != "Siemens AG" || plc.OS != "Siemens SIMATIC S7-1500 PLC" ||
		!plc.LastSeenAt.Equal(time.Date(2026, 1, 5, 10, 0, 30, 0, time.UTC)) {
		t.Errorf("the PLC's discovery: %+v", plc)
	}
	b, _ := json.Marshal(plc)
	for _, want := range []string{"10.20.0.5", "00:1b:1b:aa:00:05"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the PLC's discovery does not name %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), "10.20.0.6") {
		t.Errorf("the host nmap found down was recorded: %s", b)
	}
	if code, res = e.importSightingsAs("text/xml", report); code != http.StatusOK || res["new"] != 0.0 || res["alarms"] != 0.0 {
		t.Errorf("the same report again: %d %v, want no new discovery and no alarm", code, res)
	}
	if n := e.auditCount("discovery.import_refused"); n != 6 {
		t.Errorf("%d refusals audited, want 6", n)
	}
}
