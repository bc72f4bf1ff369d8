package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/airgap"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/transfer"
)

// transferConfig is this instance's side of air-gapped transfers (internal/airgap).
type transferConfig struct {
	// key is the transfer signing key file (created when missing); origin names it.
	key, origin string
	// site and centralKey make this an air-gapped site's own instance: its site id, and the
	// central instance's transfer public key it pins.
	site, centralKey string
}

func (t *transferConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.key, "transfer-key", env("TRANSFER_KEY_FILE", ""), "transfer bundle signing key (PEM file; created when missing); without it this instance writes and imports no transfer bundles (OTPATCH_TRANSFER_KEY_FILE)")
	fs.StringVar(&t.origin, "transfer-origin", env("TRANSFER_ORIGIN", ""), "this instance's name in the transfer bundles it writes, such as plant.example/otpatch (default: otpatch/ and the key id) (OTPATCH_TRANSFER_ORIGIN)")
	fs.StringVar(&t.site, "transfer-site", env("TRANSFER_SITE", ""), "site mode: this instance is the named air-gapped site's own; it imports plan bundles for it and writes its results and inventory (OTPATCH_TRANSFER_SITE)")
	fs.StringVar(&t.centralKey, "transfer-central-key", env("TRANSFER_CENTRAL_KEY", ""), "site mode: the central instance's transfer public key, pinned (a file: PEM, base64 or the JSON of GET /api/v1/transfers/key) (OTPATCH_TRANSFER_CENTRAL_KEY)")
}

// node builds this instance's transfer side; nil when no transfer key is set.
func (t *transferConfig) node(d *deps) (*airgap.Node, error) {
	if t.key == "" {
		if t.site != "" || t.centralKey != "" {
			return nil, &usageError{msg: "--transfer-site and --transfer-central-key need --transfer-key (OTPATCH_TRANSFER_KEY_FILE), the site's own signing key"}
		}
		return nil, nil
	}
	key, err := signing.LoadOrCreateKey(t.key, "transfer key")
	if err != nil {
		return nil, err
	}
	n := &airgap.Node{Store: d.store, Objects: d.objects, Key: key, Origin: t.origin}
	if n.Origin == "" {
		n.Origin = "otpatch/" + transfer.KeyID(n.PublicKey())
	}
	if (t.site == "") != (t.centralKey == "") {
		return nil, &usageError{msg: "site mode needs both --transfer-site (the site's id) and --transfer-central-key (the central instance's transfer key to pin)"}
	}
	if t.site != "" {
		if _, err := d.store.Site(context.Background(), t.site); err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--transfer-site %s: no such site in this instance's inventory", t.site)}
		}
		pub, err := readKey("central transfer key", t.centralKey)
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--transfer-central-key: %v", err)}
		}
		n.Site, n.CentralKey = t.site, pub
	}
	if dir := os.Getenv("OTPATCH_TRANSFER_TEMP_DIR"); dir != "" {
		n.TempDir = dir
	}
	return n, nil
}

// problems adds what is wrong with the transfer settings, without creating the key.
func (t *transferConfig) problems(add func(name, format string, a ...any)) {
	if t.key == "" {
		if t.site != "" || t.centralKey != "" {
			add("OTPATCH_TRANSFER_KEY_FILE", "missing: site mode (OTPATCH_TRANSFER_SITE) needs the site's own signing key")
		}
		return
	}
	if b, err := os.ReadFile(t.key); err == nil {
		if _, err := signing.ParsePrivate(b); err != nil {
			add("OTPATCH_TRANSFER_KEY_FILE", "%s: %v (make one with: openssl genpkey -algorithm ed25519 -out %s)", t.key, err, t.key)
		}
	} else if !os.IsNotExist(err) {
		add("OTPATCH_TRANSFER_KEY_FILE", "%v", err)
	}
	if (t.site == "") != (t.centralKey == "") {
		add("OTPATCH_TRANSFER_SITE/OTPATCH_TRANSFER_CENTRAL_KEY", "set both (an air-gapped site's own instance) or neither (the central instance)")
	}
	if t.centralKey != "" {
		if _, err := readKey("central transfer key", t.centralKey); err != nil {
			add("OTPATCH_TRANSFER_CENTRAL_KEY", "%v", err)
		}
	}
}

// wireTransfers gives the API its transfer side.
func (d *deps) wireTransfers(c *config, deps *api.Deps) error {
	n, err := c.transfers.node(d)
	if err != nil || n == nil {
		return err
	}
	n.Evidence = api.EvidenceWriter(*deps)
	deps.Transfers = n
	return nil
}
