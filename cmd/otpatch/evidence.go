package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/otpatch/otpatch/internal/evidence"
	"github.com/otpatch/otpatch/internal/signing"
)

// runEvidenceVerifyStdout is `otpatch evidence verify`: it checks a campaign's evidence bundle
// offline.
func runEvidenceVerifyStdout(ctx context.Context, args []string) error {
	return runEvidenceVerify(ctx, args, os.Stdout)
}

// runEvidenceVerify writes its report to out; a bundle that does not verify is a
// verificationFailed (exit 3).
func runEvidenceVerify(_ context.Context, args []string, out io.Writer) error {
	fs := newFlags("evidence verify")
	keyArg := fs.String("checkpoint-key", env("CHECKPOINT_PUBLIC_KEY", ""), "the published audit checkpoint key: a file (PEM, base64, or the JSON of GET /api/v1/audit/key) or the base64 key itself (OTPATCH_CHECKPOINT_PUBLIC_KEY)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fs.usageError("give one BUNDLE, not %d", len(pos))
	}
	var pub ed25519.PublicKey
	if *keyArg != "" {
		if pub, err = readPublicKey(*keyArg); err != nil {
			return err
		}
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := evidence.Verify(f, pub)
	if *asJSON {
		res := map[string]any{"ok": err == nil, "report": rep}
		var fe *evidence.FileError
		if errors.As(err, &fe) {
			res["file"], res["problem"] = fe.File, fe.Problem
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(out, string(b))
	}
	if err != nil {
		if !*asJSON {
			fmt.Fprintf(out, "evidence bundle FAILED: %v\n", err)
		}
		return &verificationFailed{"evidence verification failed"}
	}
	if !*asJSON {
		fmt.Fprintf(out, "evidence bundle verified: campaign %s, %d files, %d audit events of this campaign, each included in the signed log of %d events (%s)\n",
			rep.CampaignID, rep.Files, rep.Events, rep.TreeSize, rep.Origin)
		fmt.Fprintf(out, "manifest sha256 %s signed by vendor key %s\n", rep.ManifestSHA256, rep.VendorKey)
		if rep.KeyFromBundle {
			fmt.Fprintf(out, "checked with the checkpoint key inside the bundle, %s: compare it with the key the server publishes at /api/v1/audit/key, or pass --checkpoint-key\n", rep.CheckpointKey)
		} else {
			fmt.Fprintf(out, "checkpoint key %s (the published key)\n", rep.CheckpointKey)
		}
		for _, site := range rep.Sites {
			fmt.Fprintf(out, "air-gapped site %s: its evidence bundle verified, %d audit events of this campaign in its signed log of %d events (%s), site checkpoint key %s\n",
				site.Site, site.Events, site.TreeSize, site.Origin, site.CheckpointKey)
		}
	}
	return nil
}

// readPublicKey reads a key given as a file (PEM, base64 or the /api/v1/audit/key JSON) or
// as base64 text.
func readPublicKey(arg string) (ed25519.PublicKey, error) { return readKey("checkpoint key", arg) }

// readKey reads the public key what, given as readPublicKey takes it.
func readKey(what, arg string) (ed25519.PublicKey, error) {
	text := arg
	if b, err := os.ReadFile(arg); err == nil {
		text = string(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if t := strings.TrimSpace(text); !strings.HasPrefix(t, "{") && strings.Count(t, "+") >= 2 && !strings.Contains(t, "\n") && !strings.HasPrefix(t, "-----") {
		// A note verifier key: name+hash+base64(0x01 || key).
		if parts := strings.Split(t, "+"); len(parts) >= 3 {
			raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
			if err == nil && len(raw) == 1+ed25519.PublicKeySize && raw[0] == 1 {
				return ed25519.PublicKey(raw[1:]), nil
			}
		}
	} else if strings.HasPrefix(t, "{") {
		var doc struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal([]byte(t), &doc); err != nil || doc.PublicKey == "" {
			return nil, fmt.Errorf("%s %s: JSON without public_key", what, arg)
		}
		text = doc.PublicKey
	}
	pub, err := signing.DecodePublic(text)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, arg, err)
	}
	return pub, nil
}
