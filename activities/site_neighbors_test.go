package activities

import (
	"strings"
	"testing"
)

func TestParseNeighbors(t *testing.T) {
	got, err := ParseNeighbors(strings.NewReader(`IP address       HW type     Flags       HW address            Mask     Device
10.30.0.11       0x1         0x2         00:1B:1B:30:00:11     *        eth1
10.30.0.99       0x1         0x0         00:00:00:00:00:00     *        eth1
10.30.0.13       0x1         0x6         00:0e:8c:30:00:13     *        eth2
not-an-ip        0x1         0x2         00:0e:8c:30:00:14     *        eth2
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Neighbor{{IP: "10.30.0.11", MAC: "00:1b:1b:30:00:11", Interface: "eth1"}, {IP: "10.30.0.13", MAC: "00:0e:8c:30:00:13", Interface: "eth2"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("neighbours %+v, want %+v", got, want)
	}
	if _, err := ParseNeighbors(strings.NewReader("Idx Link\n1 eth0\n")); err == nil || !strings.Contains(err.Error(), "not the kernel's ARP table") {
		t.Errorf("another file: %v", err)
	}
}
