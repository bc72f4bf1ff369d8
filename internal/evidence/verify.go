package evidence

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
)

// maxBundle bounds what Verify reads.
const maxBundle = 1 << 30

// FileError names the file of a bundle that failed verification.
type FileError struct {
	File    string
	Problem string
}

func (e *FileError) Error() string { return e.File + ": " + e.Problem }

// Report is what a successful verification checked.
type Report struct {
	CampaignID string `json:"campaign_id"`
	Files      int    `json:"files"`
	Events     int    `json:"events"`
	ChainFrom  int64  `json:"chain_from"`
	ChainTo    int64  `json:"chain_to"`
	Checkpoint int64  `json:"checkpoint"`
	// CheckpointKey is the fingerprint of the key the bundle was checked with; KeyFromBundle
	// says it was the key inside the bundle (no published key was given).
	CheckpointKey  string `json:"checkpoint_key"`
	KeyFromBundle  bool   `json:"key_from_bundle"`
	VendorKey      string `json:"vendor_key"`
	ManifestSHA256 string `json:"manifest_sha256"`
}

// Verify reads a bundle and checks it offline. published is the checkpoint key the server
// publishes; nil uses the key inside the bundle (Report.KeyFromBundle). The error is a
// *FileError naming the first file that fails.
func Verify(r io.Reader, published ed25519.PublicKey) (Report, error) {
	files, err := readBundle(r)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	rep.Files = len(files)

	// 1. The checkpoint key, and its signature over SHA256SUMS.
	sums, ok := files[FileSums]
	if !ok {
		return rep, &FileError{FileSums, "missing"}
	}
	var kf KeyFile
	if err := strictJSON(files[FileCheckpointKey], &kf); err != nil {
		return rep, &FileError{FileCheckpointKey, err.Error()}
	}
	inside, err := signing.DecodePublic(kf.PublicKey)
	if err != nil || signing.Fingerprint(inside) != kf.Fingerprint {
		return rep, &FileError{FileCheckpointKey, "does not hold an ed25519 key matching its fingerprint"}
	}
	key := inside
	if published != nil {
		if !published.Equal(inside) {
			return rep, &FileError{FileCheckpointKey, fmt.Sprintf("the bundle's checkpoint key %s is not the published key %s", kf.Fingerprint, signing.Fingerprint(published))}
		}
		key = published
	} else {
		rep.KeyFromBundle = true
	}
	rep.CheckpointKey = signing.Fingerprint(key)
	if _, ok := files[FileSumsSig]; !ok {
		return rep, &FileError{FileSumsSig, "missing"}
	}
	if !audit.VerifyEvidence(key, sums, string(files[FileSumsSig])) {
		return rep, &FileError{FileSumsSig, fmt.Sprintf("the signature over %s does not verify with the checkpoint key %s: %s or %s was altered", FileSums, rep.CheckpointKey, FileSums, FileSumsSig)}
	}

	// 2. Every file against SHA256SUMS, none added or removed.
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for line := 1; sc.Scan(); line++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			return rep, &FileError{FileSums, fmt.Sprintf("line %d is not \"SHA256  FILE\"", line)}
		}
		listed[name] = true
		b, ok := files[name]
		if !ok {
			return rep, &FileError{name, "listed in SHA256SUMS but missing from the bundle"}
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			return rep, &FileError{name, fmt.Sprintf("altered: its SHA-256 is %s, SHA256SUMS says %s", hex.EncodeToString(got[:]), sum)}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !listed[n] && n != FileSums && n != FileSumsSig {
			return rep, &FileError{n, "not listed in SHA256SUMS: it was added to the bundle"}
		}
	}

	// 3. The vendor's signature over the manifest.
	var vk VendorKey
	if err := strictJSON(files[FileVendorKey], &vk); err != nil {
		return rep, &FileError{FileVendorKey, err.Error()}
	}
	vpub, err := signing.DecodePublic(vk.PublicKey)
	if err != nil || signing.Fingerprint(vpub) != vk.Fingerprint {
		return rep, &FileError{FileVendorKey, "does not hold an ed25519 key matching its fingerprint"}
	}
	sig, err := signing.ParseSignature(string(files[FileSignature]))
	if err != nil {
		return rep, &FileError{FileSignature, err.Error()}
	}
	if !signing.Verify(vpub, files[FileManifest], sig) {
		return rep, &FileError{FileManifest, fmt.Sprintf("the vendor signature in %s does not verify over it with the vendor key %s", FileSignature, vk.Fingerprint)}
	}
	rep.VendorKey = vk.Fingerprint
	ms := sha256.Sum256(files[FileManifest])
	rep.ManifestSHA256 = hex.EncodeToString(ms[:])
	var camp struct {
		ID             string `json:"id"`
		PatchID        string `json:"patch_id"`
		KeyFingerprint string `json:"key_fingerprint"`
		ManifestSHA256 string `json:"manifest_sha256"`
	}
	if err := json.Unmarshal(files[FileCampaign], &camp); err != nil || camp.ID == "" {
		return rep, &FileError{FileCampaign, "is not a campaign record"}
	}
	rep.CampaignID = camp.ID
	if camp.KeyFingerprint != "" && camp.KeyFingerprint != vk.Fingerprint {
		return rep, &FileError{FileVendorKey, fmt.Sprintf("key %s is not the key %s the patch was accepted with", vk.Fingerprint, camp.KeyFingerprint)}
	}
	if camp.ManifestSHA256 != "" && camp.ManifestSHA256 != rep.ManifestSHA256 {
		return rep, &FileError{FileManifest, fmt.Sprintf("its SHA-256 %s is not the manifest digest %s the campaign records", rep.ManifestSHA256, camp.ManifestSHA256)}
	}

	// 4. The chain segment against the checkpoints.
	var cps []audit.Checkpoint
	for _, n := range names {
		if !strings.HasPrefix(n, checkpointDir) {
			continue
		}
		c, err := audit.ParseCheckpoint(files[n])
		if err != nil {
			return rep, &FileError{n, err.Error()}
		}
		if n != checkpointDir+strconv.FormatInt(c.Seq, 10)+".json" {
			return rep, &FileError{n, fmt.Sprintf("holds the checkpoint of event %d", c.Seq)}
		}
		if err := c.Verify(key); err != nil {
			return rep, &FileError{n, err.Error()}
		}
		cps = append(cps, c)
	}
	audit.SortCheckpoints(cps)
	if len(cps) == 0 {
		return rep, &FileError{checkpointDir, "no signed checkpoint covers the audit events"}
	}
	chain, err := readEvents(files[FileChain])
	if err != nil {
		return rep, &FileError{FileChain, err.Error()}
	}
	if len(chain) == 0 {
		return rep, &FileError{FileChain, "is empty"}
	}
	bySeq := map[int64]audit.Event{}
	for i, e := range chain {
		if i > 0 && (e.Seq != chain[i-1].Seq+1 || e.PrevHash != chain[i-1].Hash) {
			return rep, &FileError{FileChain, fmt.Sprintf("event %d does not follow and link to event %d", e.Seq, chain[i-1].Seq)}
		}
		if e.ComputeHash() != e.Hash {
			return rep, &FileError{FileChain, fmt.Sprintf("event %d was altered: its content does not hash to its stored hash", e.Seq)}
		}
		bySeq[e.Seq] = e
	}
	rep.ChainFrom, rep.ChainTo = chain[0].Seq, chain[len(chain)-1].Seq
	for _, c := range cps {
		e, ok := bySeq[c.Seq]
		if !ok {
			return rep, &FileError{checkpointDir + strconv.FormatInt(c.Seq, 10) + ".json", fmt.Sprintf("covers event %d, outside the chain segment %d to %d", c.Seq, rep.ChainFrom, rep.ChainTo)}
		}
		if e.Hash != c.HeadHash {
			return rep, &FileError{FileChain, fmt.Sprintf("event %d hashes to %s but the signed checkpoint %d says %s: the chain was rewritten", e.Seq, e.Hash, c.Seq, c.HeadHash)}
		}
	}
	if last := cps[len(cps)-1].Seq; last != rep.ChainTo {
		return rep, &FileError{FileChain, fmt.Sprintf("ends at event %d, not at the covering checkpoint %d", rep.ChainTo, last)}
	}
	rep.Checkpoint = cps[len(cps)-1].Seq

	// 5. The excerpt is part of the covered chain.
	excerpt, err := readEvents(files[FileExcerpt])
	if err != nil {
		return rep, &FileError{FileExcerpt, err.Error()}
	}
	for _, e := range excerpt {
		if c, ok := bySeq[e.Seq]; !ok || c != e {
			return rep, &FileError{FileExcerpt, fmt.Sprintf("event %d is not the same as event %d of the covered chain", e.Seq, e.Seq)}
		}
		if e.CampaignID != camp.ID && (camp.PatchID == "" || e.PatchID != camp.PatchID) {
			return rep, &FileError{FileExcerpt, fmt.Sprintf("event %d belongs to neither campaign %s nor its patch", e.Seq, camp.ID)}
		}
	}
	rep.Events = len(excerpt)
	return rep, nil
}

func readBundle(r io.Reader) (map[string][]byte, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, &FileError{"bundle", "not a gzip-compressed tar archive: " + err.Error()}
	}
	tr := tar.NewReader(io.LimitReader(gz, maxBundle))
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &FileError{"bundle", "unreadable tar archive: " + err.Error()}
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || name != path.Clean(name) || path.IsAbs(name) || strings.HasPrefix(name, "../") {
			return nil, &FileError{name, "is not a plain file of the bundle"}
		}
		if _, dup := files[name]; dup {
			return nil, &FileError{name, "appears twice in the archive"}
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, &FileError{name, "unreadable: " + err.Error()}
		}
		files[name] = b
	}
	return files, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not valid: %v", err)
	}
	return nil
}

func readEvents(b []byte) ([]audit.Event, error) {
	var out []audit.Event
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	for dec.More() {
		var e audit.Event
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("line %d: %v", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}
