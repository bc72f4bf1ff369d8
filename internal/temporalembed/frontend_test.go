package temporalembed_test

import (
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/temporalembed"
	"github.com/otpatch/otpatch/internal/testenv"
)

// TestParseFrontend: where the frontend listens decides where the other services listen and
// where the process dials it; beyond loopback it needs mutual TLS.
func TestParseFrontend(t *testing.T) {
	ca := testenv.NewCA(t, "plant CA")
	cert := ca.Server("127.0.0.1")
	mtls := &temporalembed.ServerTLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, ClientCAFile: ca.CertFile}
	for _, tc := range []struct {
		addr                     string
		tls                      *temporalembed.ServerTLS
		ip, internal, dial, want string
	}{
		{addr: "127.0.0.1:7233", ip: "127.0.0.1", internal: "127.0.0.1", dial: "127.0.0.1"},
		{addr: "localhost:0", ip: "127.0.0.1", internal: "127.0.0.1", dial: "127.0.0.1"},
		{addr: "[::1]:0", ip: "::1", internal: "::1", dial: "::1"},
		{addr: "0.0.0.0:0", tls: mtls, ip: "0.0.0.0", internal: "127.0.0.1", dial: "127.0.0.1"},
		{addr: "10.231.1.1:0", tls: mtls, ip: "10.231.1.1", internal: "127.0.0.1", dial: "10.231.1.1"},
		{addr: "0.0.0.0:0", want: "without mutual TLS"},
		{addr: "10.231.1.1:7233", want: "must be on 127.0.0.1"},
		{addr: "temporal.plant.example:7233", tls: mtls, want: "give an IP address"},
		{addr: "127.0.0.1:65536", want: "invalid port"},
	} {
		f, err := temporalembed.ParseFrontend(tc.addr, tc.tls)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: err = %v, want it to mention %q", tc.addr, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.addr, err)
			continue
		}
		if f.IP != tc.ip || f.InternalIP != tc.internal || f.DialIP != tc.dial {
			t.Errorf("%s: listens on %s, others on %s, dialled at %s; want %s, %s, %s", tc.addr, f.IP, f.InternalIP, f.DialIP, tc.ip, tc.internal, tc.dial)
		}
		if (f.ClientTLS != nil) != (tc.tls != nil) || f.TLS.Frontend.Server.RequireClientAuth != (tc.tls != nil) {
			t.Errorf("%s: TLS %v, client TLS %v; want TLS only with ServerTLS", tc.addr, f.TLS.Frontend.Server.RequireClientAuth, f.ClientTLS != nil)
		}
	}
}
