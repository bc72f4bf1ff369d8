package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// DeviceWork says where the device work of a site's assets runs.
type DeviceWork string

const (
	// DeviceWorkCentral: the central workers reach the site's devices directly.
	DeviceWorkCentral DeviceWork = "central"
	// DeviceWorkSiteWorker: a worker at the site (`otpatch worker --site S`) polls the site's
	// own task queue and alone reaches the site's devices; it only dials out.
	DeviceWorkSiteWorker DeviceWork = "site_worker"
	// DeviceWorkAirGapped: the site has no network path to the central instance. Its own
	// otpatch instance runs the campaigns that reach it as signed transfer bundles on
	// removable media, and its results come back the same way (otpatch transfer).
	DeviceWorkAirGapped DeviceWork = "air_gapped"
)

// DeviceWorks lists the values of DeviceWork.
func DeviceWorks() []DeviceWork {
	return []DeviceWork{DeviceWorkCentral, DeviceWorkSiteWorker, DeviceWorkAirGapped}
}

// SiteTaskQueue is the Temporal task queue of a site's device work.
func SiteTaskQueue(siteID string) string { return "otpatch-site-" + siteID }

// SiteWorker is what a site worker says of itself in its Temporal identity.
type SiteWorker struct {
	Site    string `json:"site"`
	Version string `json:"version"`
	Host    string `json:"host"`
	PID     int    `json:"pid"`
}

// Identity is the worker's Temporal identity: "otpatch-site-worker site=S version=V host=H pid=P".
func (w SiteWorker) Identity() string {
	return fmt.Sprintf("otpatch-site-worker site=%s version=%s host=%s pid=%d", w.Site, w.Version, w.Host, w.PID)
}

// ParseSiteWorker reads an identity written by SiteWorker.Identity; ok is false for any other.
func ParseSiteWorker(identity string) (w SiteWorker, ok bool) {
	f := strings.Fields(identity)
	if len(f) == 0 || f[0] != "otpatch-site-worker" {
		return w, false
	}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "site":
			w.Site = v
		case "version":
			w.Version = v
		case "host":
			w.Host = v
		case "pid":
			w.PID, _ = strconv.Atoi(v)
		}
	}
	return w, w.Site != ""
}
