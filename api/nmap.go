package api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// An nmap scan's XML report (nmap -oX), the parts a sighting takes: each host nmap found up,
// with its addresses (IPv4, IPv6, and the MAC with its vendor when the scan ran on the same
// network), host names and best OS guess.
type nmapRun struct {
	XMLName xml.Name   `xml:"nmaprun"`
	Start   string     `xml:"start,attr"`
	Hosts   []nmapHost `xml:"host"`
}

type nmapHost struct {
	EndTime string `xml:"endtime,attr"`
	Status  struct {
		State string `xml:"state,attr"`
	} `xml:"status"`
	Addresses []struct {
		Addr     string `xml:"addr,attr"`
		AddrType string `xml:"addrtype,attr"`
		Vendor   string `xml:"vendor,attr"`
	} `xml:"address"`
	Hostnames []struct {
		Name string `xml:"name,attr"`
		Type string `xml:"type,attr"`
	} `xml:"hostnames>hostname"`
	OSMatches []struct {
		Name     string `xml:"name,attr"`
		Accuracy string `xml:"accuracy,attr"`
	} `xml:"os>osmatch"`
}

// parseSightingsNmap reads the sightings of an nmap XML report: one per host that was up. A
// refusal has a status, a detail and the failing fields ("host N" is the Nth host of the file).
func parseSightingsNmap(body []byte, now time.Time) ([]store.Sighting, []domain.FieldError, int, string) {
	var run nmapRun
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&run); err != nil {
		msg := "is not an nmap XML report (nmap -oX): " + err.Error()
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			msg = fmt.Sprintf("is not valid XML at line %d: %s", se.Line, se.Msg)
		} else if errors.Is(err, io.EOF) {
			msg = "is empty"
		}
		return nil, []domain.FieldError{{Field: "body", Message: msg}}, http.StatusUnprocessableEntity, "the file is not an nmap XML report; nothing was imported"
	}
	if len(run.Hosts) > maxSightingRows {
		return nil, nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("the report has more than %d hosts; split the scan into several imports", maxSightingRows)
	}
	scanned := now
	if t, ok := unixTime(run.Start); ok && !t.After(now.Add(5*time.Minute)) {
		scanned = t
	}
	var out []store.Sighting
	var errs []domain.FieldError
	failing := map[int]bool{}
	for i, h := range run.Hosts {
		n := i + 1
		add := func(field, format string, args ...any) {
			failing[n] = true
			if len(errs) < maxImportErrors {
				errs = append(errs, domain.FieldError{Field: fmt.Sprintf("host %d: %s", n, field), Message: fmt.Sprintf(format, args...)})
			}
		}
		if h.Status.State != "up" {
			continue // nmap lists hosts it found down only with -v; they were not seen
		}
		sg := store.Sighting{SeenAt: scanned}
		if t, ok := unixTime(h.EndTime); ok && !t.After(now.Add(5*time.Minute)) {
			sg.SeenAt = t
		}
		for _, a := range h.Addresses {
			switch a.AddrType {
			case "ipv4", "ipv6":
				sg.Addresses = append(sg.Addresses, checkAddress(add, "address", a.Addr))
			case "mac":
				sg.MACs = append(sg.MACs, checkMAC(add, "address", a.Addr))
				if sg.Vendor == "" {
					sg.Vendor = a.Vendor
				}
			default:
				add("address", "%q has address type %q; nmap writes ipv4, ipv6 or mac", a.Addr, a.AddrType)
			}
		}
		// The name a person gave (type "user") before the one DNS answered (PTR).
		for _, pass := range []string{"user", ""} {
			for _, hn := range h.Hostnames {
				if sg.Hostname == "" && (pass == "" || hn.Type == pass) {
					sg.Hostname = hn.Name
				}
			}
		}
		checkHostname(add, "hostname", sg.Hostname)
		best := -1
		for _, m := range h.OSMatches {
			if acc, err := strconv.Atoi(m.Accuracy); err == nil && acc > best {
				best, sg.OS = acc, m.Name
			}
		}
		if len(sg.Addresses) > maxHostList || len(sg.MACs) > maxHostList {
			add("address", "lists more than %d addresses", maxHostList)
		}
		if sg.Hostname == "" && len(sg.Addresses) == 0 && len(sg.MACs) == 0 {
			add("address", "the host has no address and no host name")
		}
		for _, f := range []struct{ name, v string }{{"vendor", sg.Vendor}, {"os", sg.OS}} {
			if c := utf8.RuneCountInString(f.v); c > 200 {
				add(f.name, "is %d characters; at most 200", c)
			}
		}
		out = append(out, sg)
	}
	if len(out) == 0 {
		return nil, []domain.FieldError{{Field: "body", Message: fmt.Sprintf("lists %d hosts and none was up", len(run.Hosts))}}, http.StatusUnprocessableEntity, "the report has no host that was up"
	}
	if len(errs) > 0 {
		return out, errs, http.StatusUnprocessableEntity, fmt.Sprintf("%d of %d hosts are not valid; nothing was imported (host numbers count the file's hosts from 1)", len(failing), len(run.Hosts))
	}
	return out, nil, 0, ""
}

// unixTime reads nmap's times: seconds since 1970.
func unixTime(s string) (time.Time, bool) {
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}
