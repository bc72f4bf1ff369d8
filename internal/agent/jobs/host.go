package jobs

// Host is what an agent reports of the host it runs on when it starts, so that otpatch notices
// a host the inventory does not know.
type Host struct {
	Hostname  string   `json:"hostname" api:"required" doc:"The host's name, at most 253 characters"`
	MachineID string   `json:"machine_id" api:"required" doc:"The host's stable identity (/etc/machine-id on Linux), at most 128 characters"`
	OS        string   `json:"os" api:"required" doc:"The operating system and its release, at most 200 characters"`
	Addresses []string `json:"addresses,omitempty" doc:"The host's IP addresses, loopback left out; at most 64"`
	MACs      []string `json:"macs,omitempty" doc:"The hardware addresses of its network interfaces; at most 64"`
}

// HostReceipt answers a host report.
type HostReceipt struct {
	Known       bool   `json:"known" doc:"An asset of the inventory knows the host; false: it is an unknown device, an alarm was raised and a discovery awaits a person's claim or rejection"`
	AssetID     string `json:"asset_id,omitempty" doc:"The asset that knows the host"`
	DiscoveryID string `json:"discovery_id,omitempty" doc:"The discovery of the unknown host"`
}
