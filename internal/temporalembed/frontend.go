package temporalembed

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
)

// Frontend is where an in-process Temporal server's frontend listens, how the process's own
// clients reach it, and its TLS. internal/temporalpg assembles its server with it too.
type Frontend struct {
	// IP is the address the frontend listens on; Port its port, 0 meaning a free one.
	IP   string
	Port int
	// InternalIP is where history, matching and the worker service listen: IP when it is a
	// loopback address, else 127.0.0.1.
	InternalIP string
	// DialIP is where the process's own clients dial the frontend: IP, or 127.0.0.1 when the
	// frontend listens on all addresses.
	DialIP string
	// TLS is the server's TLS settings, zero without TLS; ClientTLS is the configuration of
	// the process's own clients of the frontend, nil without TLS.
	TLS       config.RootTLS
	ClientTLS *tls.Config
}

// ParseFrontend checks that addr is an IP:port, on loopback unless serverTLS (nil: no TLS)
// gives the frontend mutual TLS, and reads serverTLS's files.
func ParseFrontend(addr string, serverTLS *ServerTLS) (Frontend, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return Frontend{}, fmt.Errorf("FrontendAddr %q is not host:port (example %q): %w", addr, DefaultFrontendAddr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return Frontend{}, fmt.Errorf("FrontendAddr %q: give an IP address, such as 127.0.0.1 or 0.0.0.0", addr)
	}
	if !ip.IsLoopback() && serverTLS == nil {
		return Frontend{}, fmt.Errorf("FrontendAddr %q must be on 127.0.0.1: without mutual TLS (Config.TLS) the server only listens on loopback", addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return Frontend{}, fmt.Errorf("FrontendAddr %q has an invalid port; use a number from 0 (pick a free one) to 65535", addr)
	}
	f := Frontend{IP: ip.String(), Port: port, InternalIP: ip.String(), DialIP: ip.String()}
	if !ip.IsLoopback() {
		f.InternalIP = "127.0.0.1"
	}
	if ip.IsUnspecified() {
		f.DialIP = "127.0.0.1"
	}
	if serverTLS != nil {
		if f.TLS, f.ClientTLS, err = serverTLS.settings(); err != nil {
			return Frontend{}, err
		}
	}
	return f, nil
}

// HostPort is the address the frontend listening on port is dialled at.
func (f Frontend) HostPort(port int) string { return net.JoinHostPort(f.DialIP, strconv.Itoa(port)) }

// Services returns the names and settings of frontend, history, matching and the worker
// service on ports[0..3], and the static host lists they find each other through: the
// frontend listens on IP and is dialled at HostPort, the others listen on InternalIP. The
// frontend's HTTP API (HTTPPort 0) is left off.
func (f Frontend) Services(ports []int) ([]string, map[string]config.Service, map[primitives.ServiceName]static.Hosts) {
	services := []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService}
	names := make([]string, len(services))
	settings := make(map[string]config.Service, len(services))
	hosts := make(map[primitives.ServiceName]static.Hosts, len(services))
	for i, name := range services {
		names[i] = string(name)
		bind, self := f.InternalIP, net.JoinHostPort(f.InternalIP, strconv.Itoa(ports[i]))
		if name == primitives.FrontendService {
			bind, self = f.IP, f.HostPort(ports[i])
		}
		settings[string(name)] = config.Service{RPC: config.RPC{GRPCPort: ports[i], BindOnIP: bind}}
		hosts[name] = static.SingleLocalHost(self)
	}
	return names, settings, hosts
}
