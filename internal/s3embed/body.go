package s3embed

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial in the reversed form hash/crc64 uses.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

// checksumAlgorithms lists the x-amz-checksum-* algorithms verified on upload.
func checksumAlgorithms() [5]string {
	return [5]string{"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}
}

func newChecksumHash(alg string) hash.Hash {
	switch alg {
	case "crc32":
		return crc32.NewIEEE()
	case "crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "crc64nvme":
		return crc64.New(crc64.MakeTable(crc64NVMEPoly))
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	}
	return nil
}

// received is a request body stored in a temporary file, with its digests.
type received struct {
	f         *os.File
	size      int64
	md5       []byte
	checksums map[string]string // algorithm -> base64 value, verified
}

// receiveBody streams the payload of r into a temporary file, decoding
// aws-chunked framing, and verifies length, payload SHA-256, Content-MD5
// and x-amz-checksum-* values. At most limit bytes are accepted.
func (s *Server) receiveBody(r *http.Request, a *authInfo, limit int64) (*received, *apiError) {
	var body io.Reader = r.Body
	declared := r.ContentLength
	var chunked *chunkedReader
	switch a.payloadHash {
	case streamingPayload, streamingPayloadTrailer, streamingUnsignedTrailer:
		dl := r.Header.Get("X-Amz-Decoded-Content-Length")
		if dl == "" {
			if a.payloadHash != streamingUnsignedTrailer {
				return nil, newAPIError(http.StatusLengthRequired, "MissingContentLength", "aws-chunked upload without x-amz-decoded-content-length")
			}
			declared = -1
		} else {
			n, err := strconv.ParseInt(dl, 10, 64)
			if err != nil || n < 0 {
				return nil, errInvalidArgument("x-amz-decoded-content-length %q is not a byte count", dl)
			}
			declared = n
		}
		var signer *chunkSigner
		if a.payloadHash != streamingUnsignedTrailer {
			signer = &chunkSigner{key: a.signingKey, amzDate: a.amzDate, scope: a.scope, prevSig: a.signature}
		}
		chunked = newChunkedReader(r.Body, signer, a.payloadHash != streamingPayload, limit)
		body = chunked
	}
	if declared > limit {
		return nil, errEntityTooLarge(declared, limit)
	}

	// Checksums announced in headers or as trailers.
	want := map[string]string{}
	trailerAlgs := map[string]bool{}
	for _, name := range r.Header.Values("X-Amz-Trailer") {
		for _, n := range strings.Split(name, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			alg, ok := strings.CutPrefix(n, "x-amz-checksum-")
			if !ok || newChecksumHash(alg) == nil {
				return nil, errInvalidArgument("unsupported trailer %q", n)
			}
			if chunked == nil {
				return nil, errInvalidArgument("trailer %q declared for a body that is not aws-chunked", n)
			}
			trailerAlgs[alg] = true
		}
	}
	hashes := map[string]hash.Hash{}
	for _, alg := range checksumAlgorithms() {
		if v := r.Header.Get("X-Amz-Checksum-" + alg); v != "" {
			want[alg] = v
			hashes[alg] = newChecksumHash(alg)
		} else if trailerAlgs[alg] {
			hashes[alg] = newChecksumHash(alg)
		}
	}

	var contentMD5 []byte
	if v := r.Header.Get("Content-Md5"); v != "" {
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(d) != md5.Size {
			return nil, newAPIError(http.StatusBadRequest, "InvalidDigest", "Content-MD5 %q is not a base64 MD5 digest", v)
		}
		contentMD5 = d
	}

	md5h := md5.New()
	writers := []io.Writer{md5h}
	var sha hash.Hash
	if a.payloadHash != unsignedPayload && chunked == nil {
		sha = sha256.New()
		writers = append(writers, sha)
	}
	for _, h := range hashes {
		writers = append(writers, h)
	}

	f, err := s.newTemp("upload-*")
	if err != nil {
		return nil, errInternal(err)
	}
	ok := false
	defer func() {
		if !ok {
			discard(f)
		}
	}()
	writers = append(writers, f)
	buf := make([]byte, 256<<10)
	n, err := io.CopyBuffer(io.MultiWriter(writers...), io.LimitReader(body, limit+1), buf)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, newAPIError(http.StatusBadRequest, "IncompleteBody", "request body ended after %d bytes: %v", n, err)
		}
		var ce *chunkError
		var mbe *http.MaxBytesError
		if errors.As(err, &ce) || errors.As(err, &mbe) {
			return nil, toAPIError(err)
		}
		if _, isPath := err.(*os.PathError); isPath {
			return nil, errInternal(err)
		}
		return nil, newAPIError(http.StatusBadRequest, "IncompleteBody", "reading request body failed after %d bytes: %v", n, err)
	}
	if n > limit {
		return nil, errEntityTooLarge(n, limit)
	}
	if declared >= 0 && n != declared {
		return nil, newAPIError(http.StatusBadRequest, "IncompleteBody", "received %d bytes, the request declared %d", n, declared)
	}
	if sha != nil {
		if got := hex.EncodeToString(sha.Sum(nil)); got != a.payloadHash {
			return nil, newAPIError(http.StatusBadRequest, "XAmzContentSHA256Mismatch",
				"payload SHA-256 %s does not match x-amz-content-sha256 %s", got, a.payloadHash)
		}
	}
	sum := md5h.Sum(nil)
	if contentMD5 != nil && !bytes.Equal(contentMD5, sum) {
		return nil, newAPIError(http.StatusBadRequest, "BadDigest", "Content-MD5 does not match the MD5 of the received body")
	}
	if chunked != nil {
		for _, t := range chunked.Trailers() {
			alg, isSum := strings.CutPrefix(t.name, "x-amz-checksum-")
			if isSum && trailerAlgs[alg] {
				want[alg] = t.value
			}
		}
	}
	got := map[string]string{}
	for alg, h := range hashes {
		v := base64.StdEncoding.EncodeToString(h.Sum(nil))
		w, present := want[alg]
		if !present {
			return nil, newAPIError(http.StatusBadRequest, "InvalidRequest", "trailer x-amz-checksum-%s was declared but not sent", alg)
		}
		if w != v {
			return nil, newAPIError(http.StatusBadRequest, "BadDigest", "x-amz-checksum-%s %s does not match the computed %s", alg, w, v)
		}
		got[alg] = v
	}
	ok = true
	return &received{f: f, size: n, md5: sum, checksums: got}, nil
}

// readSmallBody reads a signed, small request body (XML documents),
// verifying its payload hash.
func readSmallBody(r *http.Request, a *authInfo, limit int64) ([]byte, *apiError) {
	switch a.payloadHash {
	case streamingPayload, streamingPayloadTrailer, streamingUnsignedTrailer:
		return nil, errInvalidArgument("aws-chunked payload is not accepted for this request")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "IncompleteBody", "reading request body: %v", err)
	}
	if int64(len(data)) > limit {
		return nil, newAPIError(http.StatusBadRequest, "MaxMessageLengthExceeded", "request body exceeds %d bytes", limit)
	}
	if a.payloadHash != unsignedPayload {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != a.payloadHash {
			return nil, newAPIError(http.StatusBadRequest, "XAmzContentSHA256Mismatch",
				"payload SHA-256 %s does not match x-amz-content-sha256 %s", got, a.payloadHash)
		}
	}
	if v := r.Header.Get("Content-Md5"); v != "" {
		sum := md5.Sum(data)
		if base64.StdEncoding.EncodeToString(sum[:]) != v {
			return nil, newAPIError(http.StatusBadRequest, "BadDigest", "Content-MD5 does not match the MD5 of the received body")
		}
	}
	return data, nil
}
