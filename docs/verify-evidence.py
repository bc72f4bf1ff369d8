#!/usr/bin/env python3
"""Check an otpatch evidence bundle offline, with Python 3 and the openssl command alone.

    python3 verify-evidence.py BUNDLE.tar.gz [--key PUBLISHED]

PUBLISHED is the audit checkpoint key the otpatch server publishes: the JSON answer of
GET /api/v1/audit/key, a PEM public key file, or a file holding the note verifier key
(vkey). Without it the key inside the bundle is used, and a warning prints its fingerprint
and vkey to compare with the published ones.

Every check of docs/audit-format.md (section 5.1, "Checking a bundle") runs, and every
problem found is reported, each naming the file of the bundle or the audit event (by seq) it
concerns. Exit status: 0 the bundle verified, 1 it did not, 2 usage error (bad arguments, an
unreadable bundle or key file, no openssl). No network access. The archive is read as a
stream into a temporary folder and the audit events line by line, so a large bundle needs
little memory (the JSON records are read whole).
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib

# The files of a bundle (docs/audit-format.md, "The evidence bundle").
README = "README.md"
CAMPAIGN = "campaign.json"
MANIFEST = "patch/manifest.json"
MANIFEST_SIG = "patch/manifest.sig"
VENDOR_PEM = "patch/vendor-key.pem"
VENDOR_JSON = "patch/vendor-key.json"
REPORT = "patch/qualification-report.json"
TEST_BENCH = "test-bench.json"
BACKUPS = "backups.json"
APPROVALS = "approvals.json"
DEPLOYMENT = "deployment-log.json"
EVENTS = "audit/events.jsonl"
PROOFS = "audit/proofs.jsonl"
CHECKPOINT = "audit/checkpoint"
KEY_PEM = "keys/checkpoint-key.pem"
KEY_VKEY = "keys/checkpoint-key.vkey"
SUMS = "SHA256SUMS"
SUMS_SIG = "SHA256SUMS.sig"

LISTED_FILES = (README, CAMPAIGN, MANIFEST, MANIFEST_SIG, VENDOR_PEM, VENDOR_JSON, REPORT,
                TEST_BENCH, BACKUPS, APPROVALS, DEPLOYMENT, EVENTS, PROOFS, CHECKPOINT,
                KEY_PEM, KEY_VKEY)

# The keys of a leaf, in their order.
LEAF_KEYS = ("seq", "at", "actor", "role", "action", "subject_type", "subject_id",
             "campaign_id", "patch_id", "asset_id", "request_id", "workflow_id", "details")
PROOF_KEYS = ("seq", "leaf_index", "tree_size", "hashes")

# DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")
# Note verifier key algorithm byte for ed25519 (C2SP signed-note).
ALG_ED25519 = 0x01

SUM_LINE = re.compile(rb"^([0-9a-f]{64})  (.+)$")
HEX_HASH = re.compile(r"^[0-9a-f]{64}$")
DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")


class UsageError(Exception):
    """A problem with how the script was called: exit 2."""


class Problems:
    """Every problem found, in the order found."""

    def __init__(self):
        self.items = []
        # origin is the log the checkpoint names, verified or not (for the key warning).
        self.origin = None

    def add(self, where, what):
        self.items.append((where, what))

    def event(self, seq, line, what):
        if seq is None:
            self.add(EVENTS, "line %d: %s" % (line, what))
        else:
            self.add(EVENTS, "event %d (line %d): %s" % (seq, line, what))


# Hashes (RFC 6962 / RFC 9162, SHA-256).

def sha256(b):
    return hashlib.sha256(b).digest()


def leaf_hash(leaf):
    return sha256(b"\x00" + leaf)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 section 2.1.3.2: does the audit path lead from leaf (a leaf hash) at index to
    root in the tree of size leaves?"""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# Keys.

def fingerprint(raw):
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def b64decode(s):
    """Standard base64, padded, nothing else (as Go's base64.StdEncoding reads it)."""
    if isinstance(s, bytes):
        s = s.decode("ascii", "replace")
    if len(s) % 4 != 0:
        raise ValueError("base64 of a length that is not a multiple of 4")
    return base64.b64decode(s, validate=True)


def pem_to_raw(text):
    """The 32 bytes of an ed25519 public key given as a PEM "PUBLIC KEY" (SPKI)."""
    m = re.search(r"-----BEGIN PUBLIC KEY-----\s*(.*?)\s*-----END PUBLIC KEY-----", text, re.S)
    if not m:
        raise ValueError("no PEM PUBLIC KEY block")
    try:
        der = base64.b64decode("".join(m.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the PEM block is not base64")
    if len(der) != len(SPKI_ED25519) + 32 or not der.startswith(SPKI_ED25519):
        raise ValueError("the PEM block is not an ed25519 public key")
    return der[len(SPKI_ED25519):]


def raw_to_pem(raw):
    body = base64.b64encode(SPKI_ED25519 + raw).decode("ascii")
    return "-----BEGIN PUBLIC KEY-----\n" + body + "\n-----END PUBLIC KEY-----\n"


def note_key_hash(name, raw):
    """The key hash of an ed25519 note key: the first 4 bytes of
    SHA-256(name || "\\n" || 0x01 || key), as an unsigned big-endian number."""
    return int.from_bytes(sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + raw)[:4], "big")


def valid_key_name(name):
    return name != "" and not any(c.isspace() for c in name) and "+" not in name


def make_vkey(name, raw):
    return "%s+%08x+%s" % (name, note_key_hash(name, raw),
                           base64.b64encode(bytes([ALG_ED25519]) + raw).decode("ascii"))


def parse_vkey(vkey):
    """(name, key) of a note verifier key <name>+<8 hex key hash>+<base64(0x01 || key)>."""
    name, sep1, rest = vkey.partition("+")
    hash16, sep2, key64 = rest.partition("+")
    if not sep1 or not sep2:
        raise ValueError("a verifier key is <name>+<key hash>+<key>")
    if not valid_key_name(name):
        raise ValueError("the key name %r is empty or holds a space or '+'" % name)
    if not re.fullmatch(r"[0-9a-fA-F]{8}", hash16):
        raise ValueError("the key hash %r is not 8 hex digits" % hash16)
    try:
        key = b64decode(key64)
    except (binascii.Error, ValueError):
        raise ValueError("the key %r is not base64" % key64)
    if len(key) != 33 or key[0] != ALG_ED25519:
        raise ValueError("the key is not an ed25519 note key (0x01 and 32 bytes)")
    raw = key[1:]
    if int(hash16, 16) != note_key_hash(name, raw):
        raise ValueError("the key hash %s does not match the name and key" % hash16)
    return name, raw


class PublishedKey:
    """The checkpoint key as the auditor received it: the raw key, and the log name when the
    form given carries one (a vkey, or the JSON of GET /api/v1/audit/key)."""

    def __init__(self, raw, origin, source):
        self.raw, self.origin, self.source = raw, origin, source


def load_published(path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as e:
        raise UsageError("--key %s: %s" % (path, e.strerror or e))
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise UsageError("--key %s: not text; give the PEM key, the vkey or the JSON of GET /api/v1/audit/key" % path)
    try:
        if text.startswith("{"):
            doc = json.loads(text)
            if not isinstance(doc, dict):
                raise ValueError("not the JSON of GET /api/v1/audit/key")
            keys = []
            if isinstance(doc.get("public_key"), str) and doc["public_key"]:
                raw = b64decode(doc["public_key"])
                if len(raw) != 32:
                    raise ValueError("public_key is not 32 bytes of base64")
                keys.append(("public_key", raw))
            if isinstance(doc.get("public_key_pem"), str) and doc["public_key_pem"]:
                keys.append(("public_key_pem", pem_to_raw(doc["public_key_pem"])))
            origin = None
            if isinstance(doc.get("vkey"), str) and doc["vkey"]:
                origin, raw = parse_vkey(doc["vkey"])
                keys.append(("vkey", raw))
            if not keys:
                raise ValueError("holds none of public_key, public_key_pem, vkey")
            for what, raw in keys[1:]:
                if raw != keys[0][1]:
                    raise ValueError("%s and %s hold different keys" % (keys[0][0], what))
            if isinstance(doc.get("origin"), str) and origin is not None and doc["origin"] != origin:
                raise ValueError("origin %r is not the name %r of the vkey" % (doc["origin"], origin))
            if isinstance(doc.get("fingerprint"), str) and doc["fingerprint"] != fingerprint(keys[0][1]):
                raise ValueError("fingerprint %s is not the fingerprint %s of the key" % (doc["fingerprint"], fingerprint(keys[0][1])))
            return PublishedKey(keys[0][1], origin, "the JSON of GET /api/v1/audit/key")
        if "-----BEGIN" in text:
            return PublishedKey(pem_to_raw(text), None, "a PEM public key")
        if re.match(r"[^+\s]+\+[0-9a-fA-F]{8}\+", text):
            origin, raw = parse_vkey(text)
            return PublishedKey(raw, origin, "a note verifier key")
        raw = b64decode(text)
        if len(raw) != 32:
            raise ValueError("not 32 bytes of base64")
        return PublishedKey(raw, None, "a base64 public key")
    except (ValueError, binascii.Error) as e:
        raise UsageError("--key %s: %s; give the PEM key, the vkey or the JSON of GET /api/v1/audit/key" % (path, e))


# openssl.

class OpenSSL:
    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0

    def _write(self, data):
        self.n += 1
        p = os.path.join(self.tmp, "openssl-%d" % self.n)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def verify(self, raw_key, msg_path, sig):
        """Does sig (raw 64 bytes) verify over the file msg_path with the ed25519 key?
        This is: openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in MSG -sigfile SIG"""
        if len(sig) != 64:
            return False
        key = self._write(raw_to_pem(raw_key).encode("ascii"))
        sig_path = self._write(sig)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin",
                            "-in", msg_path, "-sigfile", sig_path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        return r.returncode == 0 and b"Signature Verified Successfully" in r.stdout

    def verify_bytes(self, raw_key, msg, sig):
        return self.verify(raw_key, self._write(msg), sig)


# The archive.

class Member:
    def __init__(self, digest, size, path):
        self.digest, self.size, self.path = digest, size, path

    def read(self, limit=None):
        with open(self.path, "rb") as f:
            return f.read() if limit is None else f.read(limit)


def safe_name(name):
    return (name != "" and "\x00" not in name and "\\" not in name and not name.startswith("/")
            and posixpath.normpath(name) == name and name not in (".", "..")
            and not name.startswith("../"))


def read_archive(path, tmp, problems):
    """Streams the tar.gz: each regular file with a safe name is hashed and spooled to tmp
    under a name of its own; anything else is a problem."""
    files = {}
    try:
        with tarfile.open(path, mode="r|gz") as tf:
            for i, m in enumerate(tf):
                name = m.name
                if not m.isreg():
                    problems.add(name, "is not a regular file of the bundle (a directory, link or device entry)")
                    continue
                if not safe_name(name):
                    problems.add(name, "is not a plain relative path inside the bundle")
                    continue
                if name in files:
                    problems.add(name, "appears twice in the archive")
                    continue
                src = tf.extractfile(m)
                spool = os.path.join(tmp, "file-%d" % i)
                h = hashlib.sha256()
                with open(spool, "wb") as out:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        h.update(chunk)
                        out.write(chunk)
                files[name] = Member(h.hexdigest(), m.size, spool)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        problems.add("bundle", "is not a complete gzip-compressed tar archive: %s" % e)
    return files


def check_sums(files, problems):
    """Every file against SHA256SUMS: none altered, added or removed."""
    sums = files.get(SUMS)
    listed = set()
    if sums is None:
        problems.add(SUMS, "missing from the bundle: no file can be checked")
    else:
        data = sums.read()
        if data and not data.endswith(b"\n"):
            problems.add(SUMS, "does not end with a newline")
        prev = None
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()
        if not data:
            problems.add(SUMS, "is empty")
            lines = []
        for n, line in enumerate(lines, 1):
            m = SUM_LINE.match(line)
            if not m:
                problems.add(SUMS, "line %d is not \"<64 hex>  <path>\"" % n)
                continue
            want, raw_name = m.group(1).decode("ascii"), m.group(2)
            try:
                name = raw_name.decode("utf-8")
            except UnicodeDecodeError:
                problems.add(SUMS, "line %d names a path that is not UTF-8" % n)
                continue
            if prev is not None and raw_name <= prev:
                problems.add(SUMS, "line %d (%s) is out of order or repeated: paths are sorted by their bytes" % (n, name))
            prev = raw_name
            if name in (SUMS, SUMS_SIG):
                problems.add(SUMS, "line %d lists %s, which is not covered by it" % (n, name))
                continue
            listed.add(name)
            f = files.get(name)
            if f is None:
                problems.add(name, "listed in SHA256SUMS but missing from the bundle")
            elif f.digest != want:
                problems.add(name, "altered: its SHA-256 is %s, SHA256SUMS says %s" % (f.digest, want))
    for name in sorted(files):
        if name not in listed and name not in (SUMS, SUMS_SIG) and sums is not None:
            problems.add(name, "not listed in SHA256SUMS: it was added to the bundle")
    for name in LISTED_FILES + (SUMS_SIG,):
        if name not in files and name not in listed:
            problems.add(name, "missing from the bundle")


def read_json(files, name, problems):
    f = files.get(name)
    if f is None:
        return None
    try:
        return json.loads(f.read().decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as e:
        problems.add(name, "is not valid JSON: %s" % e)
        return None


def _no_constant(c):
    raise ValueError("%s is not JSON" % c)


# The checkpoint note.

class Checkpoint:
    def __init__(self, origin, size, root, text, sigs):
        self.origin, self.size, self.root, self.text, self.sigs = origin, size, root, text, sigs


def parse_note(data):
    """Reads a signed note (C2SP signed-note) holding a checkpoint (C2SP tlog-checkpoint).
    Raises ValueError saying what is wrong."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8")
    if any(ord(c) < 0x20 and c != "\n" for c in s):
        raise ValueError("holds a control character")
    split = data.rfind(b"\n\n")
    if split < 0:
        raise ValueError("has no blank line before its signatures")
    text, sigblock = data[:split + 1], data[split + 2:]
    if not sigblock or not sigblock.endswith(b"\n"):
        raise ValueError("has no signature line, or its last line does not end with a newline")
    sigs = []
    for line in sigblock[:-1].split(b"\n"):
        prefix = "\u2014 ".encode("utf-8")
        if not line.startswith(prefix):
            raise ValueError("signature line %r does not start with an em dash and a space" % line.decode("utf-8"))
        name, _, b64 = line[len(prefix):].decode("utf-8").partition(" ")
        try:
            sig = b64decode(b64)
        except (binascii.Error, ValueError):
            raise ValueError("the signature of %s is not base64" % name)
        if not valid_key_name(name) or len(sig) < 5:
            raise ValueError("signature line %r is malformed" % line.decode("utf-8"))
        sigs.append((name, int.from_bytes(sig[:4], "big"), sig[4:]))
    lines = text.decode("utf-8").split("\n")
    if len(lines) < 4:
        raise ValueError("must hold the origin, the size and the root hash, one per line")
    origin, size_s, root_s = lines[0], lines[1], lines[2]
    if origin == "":
        raise ValueError("has an empty origin line")
    if not DECIMAL.match(size_s):
        raise ValueError("size %r is not a decimal count of events" % size_s)
    try:
        root = b64decode(root_s)
    except (binascii.Error, ValueError):
        root = b""
    if len(root) != 32:
        raise ValueError("root hash %r is not 32 bytes in base64" % root_s)
    return Checkpoint(origin, int(size_s), root, text, sigs)


def check_checkpoint(files, trusted, published, bundle_key, ssl, problems):
    """The checkpoint note and the verifier key; returns the checkpoint when its signature by
    the trusted key verifies, else None."""
    vkey_file = None
    f = files.get(KEY_VKEY)
    if f is not None:
        vkey_file = f.read(1 << 16).decode("utf-8", "replace").strip()
        try:
            _, vraw = parse_vkey(vkey_file)
            if bundle_key is not None and vraw != bundle_key:
                problems.add(KEY_VKEY, "holds the key %s, but %s holds %s" % (fingerprint(vraw), KEY_PEM, fingerprint(bundle_key)))
        except ValueError as e:
            problems.add(KEY_VKEY, "is not a note verifier key: %s" % e)
    f = files.get(CHECKPOINT)
    if f is None:
        return None
    try:
        cp = parse_note(f.read(1 << 16))
    except ValueError as e:
        problems.add(CHECKPOINT, "is not a checkpoint note: %s" % e)
        return None
    problems.origin = cp.origin
    if trusted is None:
        problems.add(CHECKPOINT, "cannot be checked: there is no checkpoint key")
        return None
    want = make_vkey(cp.origin, trusted) if valid_key_name(cp.origin) else None
    if want is None:
        problems.add(CHECKPOINT, "names the log %r, which cannot be a key name (empty, or with a space or '+')" % cp.origin)
        return None
    if published is not None and published.origin is not None and published.origin != cp.origin:
        problems.add(CHECKPOINT, "names the log %r, but the published key signs for the log %r" % (cp.origin, published.origin))
    if vkey_file is not None and vkey_file != want:
        problems.add(KEY_VKEY, "is %r, not the verifier key %r of the checkpoint key for the log %r" % (vkey_file, want, cp.origin))
    kh = note_key_hash(cp.origin, trusted)
    mine = [s for s in cp.sigs if s[0] == cp.origin and s[1] == kh]
    if not mine:
        others = ", ".join("%s+%08x" % (s[0], s[1]) for s in cp.sigs)
        problems.add(CHECKPOINT, "carries no signature by the checkpoint key %s for the log %r (key hash %08x); it is signed by %s"
                     % (fingerprint(trusted), cp.origin, kh, others))
        return None
    if not ssl.verify_bytes(trusted, cp.text, mine[0][2]):
        problems.add(CHECKPOINT, "its signature does not verify with the checkpoint key %s: the checkpoint was altered" % fingerprint(trusted))
        return None
    return cp


# The vendor's signature.

def check_vendor(files, campaign, ssl, problems):
    vk = read_json(files, VENDOR_JSON, problems)
    vraw = None
    if vk is not None:
        try:
            vraw = b64decode(vk.get("public_key", "") if isinstance(vk, dict) else "")
            if len(vraw) != 32:
                raise ValueError
        except (ValueError, binascii.Error):
            problems.add(VENDOR_JSON, "its public_key is not an ed25519 key (32 bytes of base64)")
            vraw = None
        if vraw is not None and vk.get("fingerprint") != fingerprint(vraw):
            problems.add(VENDOR_JSON, "its fingerprint %r is not the fingerprint %s of its public_key" % (vk.get("fingerprint"), fingerprint(vraw)))
    pem = files.get(VENDOR_PEM)
    pem_raw = None
    if pem is not None:
        try:
            pem_raw = pem_to_raw(pem.read(1 << 16).decode("utf-8", "replace"))
        except ValueError as e:
            problems.add(VENDOR_PEM, "is not an ed25519 public key: %s" % e)
    if pem_raw is not None and vraw is not None and pem_raw != vraw:
        problems.add(VENDOR_PEM, "holds the key %s, but %s says the vendor key is %s" % (fingerprint(pem_raw), VENDOR_JSON, fingerprint(vraw)))
    manifest, sig = files.get(MANIFEST), files.get(MANIFEST_SIG)
    if manifest is not None and sig is not None and pem_raw is not None:
        s = sig.read(65)
        if len(s) != 64:
            problems.add(MANIFEST_SIG, "is %d bytes, not a raw 64-byte ed25519 signature" % len(s))
        elif not ssl.verify(pem_raw, manifest.path, s):
            problems.add(MANIFEST_SIG, "the vendor signature does not verify over %s with the vendor key %s in %s: the manifest or its signature was altered"
                         % (MANIFEST, fingerprint(pem_raw), VENDOR_PEM))
    if isinstance(campaign, dict):
        if manifest is not None and campaign.get("manifest_sha256") and campaign["manifest_sha256"] != manifest.digest:
            problems.add(MANIFEST, "its SHA-256 %s is not the manifest digest %s that %s records" % (manifest.digest, campaign["manifest_sha256"], CAMPAIGN))
        if vraw is not None and campaign.get("key_fingerprint") and campaign["key_fingerprint"] != fingerprint(vraw):
            problems.add(VENDOR_JSON, "the key %s is not the key %s the patch was accepted with (%s)" % (fingerprint(vraw), campaign["key_fingerprint"], CAMPAIGN))


# The audit events.

class EventSummary:
    """What the later cross-checks need of the events."""

    def __init__(self):
        self.count = 0
        self.approvals = []  # (seq, actor, role, decision, plan_digest, reason)
        self.by_asset = {}   # seq -> (asset_id, at, action, actor, details)
        self.seqs = set()


def parse_leaf(leaf):
    """The fields of a leaf, checking its form; raises ValueError."""
    text = leaf.decode("utf-8")
    top = []

    def hook(pairs):
        top.append([k for k, _ in pairs])
        return dict(pairs)

    obj = json.loads(text, object_pairs_hook=hook, parse_constant=_no_constant)
    if not isinstance(obj, dict):
        raise ValueError("is not a JSON object")
    keys = top[-1]  # the outermost object is completed last
    if tuple(keys) != LEAF_KEYS:
        raise ValueError("its keys are %s, not %s in that order" % (",".join(keys), ",".join(LEAF_KEYS)))
    if not isinstance(obj["seq"], int) or isinstance(obj["seq"], bool) or obj["seq"] < 1:
        raise ValueError("its seq is not a whole number from 1")
    for k in LEAF_KEYS[1:-1]:
        if not isinstance(obj[k], str):
            raise ValueError("its %s is not a string" % k)
    if not isinstance(obj["details"], dict):
        raise ValueError("its details is not a JSON object")
    return obj


def parse_proof(line):
    top = []

    def hook(pairs):
        top.append([k for k, _ in pairs])
        return dict(pairs)

    p = json.loads(line.decode("utf-8"), object_pairs_hook=hook, parse_constant=_no_constant)
    if not isinstance(p, dict) or sorted(top[-1]) != sorted(PROOF_KEYS) or len(top[-1]) != len(PROOF_KEYS):
        raise ValueError("is not {\"seq\",\"leaf_index\",\"tree_size\",\"hashes\"}")
    for k in PROOF_KEYS[:3]:
        if not isinstance(p[k], int) or isinstance(p[k], bool):
            raise ValueError("its %s is not a whole number" % k)
    if not isinstance(p["hashes"], list) or not all(isinstance(h, str) and HEX_HASH.match(h) for h in p["hashes"]):
        raise ValueError("its hashes are not SHA-256 hashes in lower-case hex")
    return p


def check_events(files, campaign_id, cp, problems):
    out = EventSummary()
    ev, pr = files.get(EVENTS), files.get(PROOFS)
    if ev is None:
        return out
    if cp is None:
        problems.add(EVENTS, "the inclusion of the events cannot be checked without a verified checkpoint")
    prev = 0
    with open(ev.path, "rb") as fe, open(pr.path if pr is not None else os.devnull, "rb") as fp:
        n = 0
        for raw in fe:
            n += 1
            if not raw.endswith(b"\n"):
                problems.add(EVENTS, "line %d does not end with a newline" % n)
                leaf = raw
            else:
                leaf = raw[:-1]
            pline = fp.readline()
            try:
                e = parse_leaf(leaf)
            except (UnicodeDecodeError, ValueError) as err:
                problems.event(None, n, "is not an audit event leaf: %s" % err)
                continue
            seq = e["seq"]
            out.count += 1
            out.seqs.add(seq)
            if seq <= prev:
                problems.event(seq, n, "follows event %d: the events are out of order or repeated" % prev)
            prev = max(prev, seq)
            if campaign_id is not None and e["campaign_id"] != campaign_id:
                problems.event(seq, n, "belongs to campaign %r, not to %s" % (e["campaign_id"], campaign_id))
            if e["action"] in ("campaign.approved", "campaign.rejected") and e["role"] != "system":
                d = e["details"]
                out.approvals.append((seq, e["actor"], e["role"], e["action"][len("campaign."):],
                                      d.get("plan_digest"), d.get("reason") or ""))
            if e["asset_id"]:
                out.by_asset[seq] = (e["asset_id"], e["at"], e["action"], e["actor"], e["details"])
            if pr is None:
                continue
            if not pline:
                problems.event(seq, n, "has no inclusion proof: %s ends at line %d" % (PROOFS, n - 1))
                continue
            if not pline.endswith(b"\n"):
                problems.add(PROOFS, "line %d does not end with a newline" % n)
            try:
                p = parse_proof(pline.rstrip(b"\n"))
            except (UnicodeDecodeError, ValueError) as err:
                problems.add(PROOFS, "line %d (the proof of event %d): %s" % (n, seq, err))
                continue
            bad = []
            if p["seq"] != seq:
                bad.append("its proof on line %d of %s is for event %d" % (n, PROOFS, p["seq"]))
            if p["leaf_index"] != seq - 1:
                bad.append("its proof names leaf %d, not leaf %d (seq - 1)" % (p["leaf_index"], seq - 1))
            if cp is not None and p["tree_size"] != cp.size:
                bad.append("its proof is in a log of %d events, not in the log of %d that %s signs" % (p["tree_size"], cp.size, CHECKPOINT))
            if bad:
                for b in bad:
                    problems.event(seq, n, b)
                continue
            if cp is None:
                continue
            path = [bytes.fromhex(h) for h in p["hashes"]]
            if not verify_inclusion(seq - 1, cp.size, leaf_hash(leaf), path, cp.root):
                problems.event(seq, n, "is not in the signed log: its leaf hash and inclusion proof do not lead to the root hash of %s "
                                       "(the event or its proof was altered, or the checkpoint replaced)" % CHECKPOINT)
        extra = 0
        for _ in fp:
            extra += 1
        if extra:
            problems.add(PROOFS, "holds %d more lines than %s has events" % (extra, EVENTS))
    if n == 0:
        problems.add(EVENTS, "holds no event")
    return out


# Cross-checks of the JSON records against the events.

def check_approvals(files, campaign_id, events, problems):
    """Each record of approvals.json is the approval or rejection that one event of the log
    records (same actor, role, decision, plan digest and reason), and each such event has its
    record."""
    records = read_json(files, APPROVALS, problems)
    if records is None:
        return
    if not isinstance(records, list):
        problems.add(APPROVALS, "is not a JSON array of approvals")
        return
    unmatched = list(events.approvals)
    for i, r in enumerate(records, 1):
        if not isinstance(r, dict):
            problems.add(APPROVALS, "entry %d is not an approval record" % i)
            continue
        who = "entry %d (%s by %s, %s, at %s)" % (i, r.get("decision"), r.get("actor"), r.get("role"), r.get("at"))
        if campaign_id is not None and r.get("campaign_id") != campaign_id:
            problems.add(APPROVALS, "%s belongs to campaign %r, not to %s" % (who, r.get("campaign_id"), campaign_id))
        key = (r.get("actor"), r.get("role"), r.get("decision"), r.get("plan_digest"), r.get("reason") or "")
        for j, a in enumerate(unmatched):
            if a[1:] == key:
                del unmatched[j]
                break
        else:
            problems.add(APPROVALS, "%s is not recorded in %s: no campaign.%s event by that actor and role for plan digest %s"
                         % (who, EVENTS, r.get("decision"), r.get("plan_digest")))
    for a in unmatched:
        problems.add(APPROVALS, "has no record of event %d of %s: campaign.%s by %s (%s) for plan digest %s"
                     % (a[0], EVENTS, a[3], a[1], a[2], a[4]))


def check_asset_events(files, events, problems):
    """The audit events that test-bench.json and deployment-log.json show per asset are events
    of audit/events.jsonl, unchanged; and every event of such an asset is shown."""
    shown = {}
    for name in (TEST_BENCH, DEPLOYMENT):
        assets = read_json(files, name, problems)
        if assets is None:
            continue
        if not isinstance(assets, list):
            problems.add(name, "is not a JSON array of assets")
            continue
        for a in assets:
            if not isinstance(a, dict):
                problems.add(name, "holds an entry that is not an asset")
                continue
            asset = a.get("asset_id")
            shown.setdefault(asset, set())
            for ae in a.get("audit_events") or []:
                seq = ae.get("seq") if isinstance(ae, dict) else None
                if not isinstance(seq, int):
                    problems.add(name, "asset %s: an audit event without a seq" % asset)
                    continue
                shown[asset].add(seq)
                e = events.by_asset.get(seq)
                if e is None and seq not in events.seqs:
                    problems.add(name, "asset %s: event %d is not in %s: it was removed from there, or added here" % (asset, seq, EVENTS))
                elif e is None:
                    problems.add(name, "asset %s: event %d of %s is not an event of that asset" % (asset, seq, EVENTS))
                elif e[0] != asset or (ae.get("at"), ae.get("action"), ae.get("actor"), ae.get("details")) != e[1:]:
                    problems.add(name, "asset %s: event %d differs from event %d of %s" % (asset, seq, seq, EVENTS))
    for seq in sorted(events.by_asset):
        asset = events.by_asset[seq][0]
        if asset in shown and seq not in shown[asset]:
            problems.add(EVENTS, "event %d of asset %s is missing from that asset's audit events in %s or %s" % (seq, asset, TEST_BENCH, DEPLOYMENT))


# The whole check.

def verify(bundle, published, tmp):
    problems = Problems()
    ssl = OpenSSL(tmp)
    files = read_archive(bundle, tmp, problems)
    if not files:
        if not problems.items:
            problems.add("bundle", "holds no file")
        return problems, None, EventSummary(), None, None

    # a. The archive and SHA256SUMS.
    check_sums(files, problems)

    # b. The checkpoint key, and its signature over SHA256SUMS.
    bundle_key = None
    if KEY_PEM in files:
        try:
            bundle_key = pem_to_raw(files[KEY_PEM].read(1 << 16).decode("utf-8", "replace"))
        except ValueError as e:
            problems.add(KEY_PEM, "is not an ed25519 public key: %s" % e)
    trusted = bundle_key
    if published is not None:
        trusted = published.raw
        if bundle_key is not None and bundle_key != published.raw:
            problems.add(KEY_PEM, "the bundle's checkpoint key %s is not the published key %s: the bundle was not signed by the published key"
                         % (fingerprint(bundle_key), fingerprint(published.raw)))
    if SUMS in files and SUMS_SIG in files:
        sig = files[SUMS_SIG].read(65)
        if trusted is None:
            problems.add(SUMS_SIG, "cannot be checked: there is no checkpoint key")
        elif len(sig) != 64:
            problems.add(SUMS_SIG, "is %d bytes, not a raw 64-byte ed25519 signature" % len(sig))
        elif not ssl.verify(trusted, files[SUMS].path, sig):
            problems.add(SUMS_SIG, "the signature over SHA256SUMS does not verify with the %s checkpoint key %s: SHA256SUMS or SHA256SUMS.sig was altered, or signed by another key"
                         % ("published" if published is not None else "bundle's", fingerprint(trusted)))

    # c. The checkpoint note.
    cp = check_checkpoint(files, trusted, published, bundle_key, ssl, problems)

    # d. The vendor's signature over the manifest.
    campaign = read_json(files, CAMPAIGN, problems)
    campaign_id = None
    if campaign is not None:
        if isinstance(campaign, dict) and isinstance(campaign.get("id"), str) and campaign["id"]:
            campaign_id = campaign["id"]
        else:
            problems.add(CAMPAIGN, "is not a campaign record with an id")
    check_vendor(files, campaign, ssl, problems)

    # e. Every event, its proof, and its inclusion in the checkpoint's log.
    events = check_events(files, campaign_id, cp, problems)

    # f. The approvals, and the per-asset events, against the events.
    check_approvals(files, campaign_id, events, problems)
    check_asset_events(files, events, problems)
    return problems, cp, events, trusted, bundle_key


def main(argv):
    ap = argparse.ArgumentParser(
        prog="verify-evidence.py",
        description="Check an otpatch evidence bundle offline (docs/audit-format.md). "
                    "Exit 0: verified; 1: it does not verify, every problem listed; 2: usage error.")
    ap.add_argument("bundle", metavar="BUNDLE.tar.gz", help="the evidence bundle, as GET /api/v1/campaigns/{id}/evidence answers it")
    ap.add_argument("--key", metavar="PUBLISHED",
                    help="the published checkpoint key: the JSON answer of GET /api/v1/audit/key, a PEM public key or a vkey file")
    args = ap.parse_args(argv)
    if shutil.which("openssl") is None:
        print("verify-evidence.py: the openssl command is not on PATH; it checks the ed25519 signatures", file=sys.stderr)
        return 2
    try:
        published = load_published(args.key) if args.key else None
        if not os.path.isfile(args.bundle):
            raise UsageError("%s: no such file" % args.bundle)
        with open(args.bundle, "rb"):
            pass
    except UsageError as e:
        print("verify-evidence.py: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("verify-evidence.py: %s: %s" % (args.bundle, e.strerror or e), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="verify-evidence-") as tmp:
        problems, cp, events, trusted, bundle_key = verify(args.bundle, published, tmp)
    if published is None and bundle_key is not None:
        origin = problems.origin if problems.origin is not None else "<origin>"
        print("WARNING: no --key given: checked with the checkpoint key inside the bundle, %s (vkey %s). "
              "Compare it with the key the server publishes at GET /api/v1/audit/key, or pass --key."
              % (fingerprint(bundle_key), make_vkey(origin, bundle_key) if valid_key_name(origin) else "-"), file=sys.stderr)
    if problems.items:
        print("evidence bundle NOT verified: %d problem%s" % (len(problems.items), "" if len(problems.items) == 1 else "s"))
        for where, what in problems.items:
            print("FAIL %s: %s" % (where, what))
        return 1
    print("bundle verified: %d events included in checkpoint of size %d, origin %s, key %s"
          % (events.count, cp.size, cp.origin, fingerprint(trusted)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
