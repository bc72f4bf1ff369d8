package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/go-chi/httprate"
)

// Behind a reverse proxy every connection comes from the proxy. Deps.TrustedProxies names the
// proxies whose X-Forwarded-For is believed: for a connection from one of them, the client is
// the right-most address in X-Forwarded-For that is not itself a trusted proxy (each proxy
// appends the address it was connected from, so entries left of that one are whatever the
// client chose to send and are ignored). Forwarded headers from any other peer are ignored.

// source is the client's address for rate limits and the audit trail's tally of refusals:
// the connection's address, or the forwarded client's when the connection comes from a
// trusted proxy (the port dropped, an IPv6 address reduced to its /64).
func (s *server) source(r *http.Request) string {
	return clientAddress(r, s.TrustedProxies)
}

// clientAddress is the client's address, believing X-Forwarded-For only from the trusted
// proxies.
func clientAddress(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !trustedProxy(peer, trusted) {
		return httprate.CanonicalizeIP(host)
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := forwardedAddr(hops[i])
		if !ok {
			// A hop a trusted proxy would not write: believe nothing further left.
			return httprate.CanonicalizeIP(host)
		}
		client = a
		if !trustedProxy(a, trusted) {
			break
		}
	}
	return httprate.CanonicalizeIP(client.String())
}

// forwardedAddr reads one X-Forwarded-For entry: an address, optionally with a port.
func forwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	return netip.Addr{}, false
}

func trustedProxy(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.WithZone("").Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
