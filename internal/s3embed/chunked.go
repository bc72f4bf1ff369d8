package s3embed

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// aws-chunked framing (the body of a request whose x-amz-content-sha256 is
// one of the STREAMING-* values):
//
//	<hex size>[;chunk-signature=<64 hex>]\r\n<data>\r\n   repeated
//	0[;chunk-signature=<64 hex>]\r\n                      final chunk
//	\r\n                                                  when no trailer
//	<name>:<value>\n ... [x-amz-trailer-signature:<sig>]  when a trailer is declared
//
// Signed chunks chain their signatures: each chunk's string to sign names
// the signature of the chunk before it, starting from the seed signature of
// the request's Authorization header.

const (
	maxChunkLineLen   = 4096
	maxTrailerLen     = 16 << 10
	chunkSigPrefix    = "chunk-signature="
	trailerSigName    = "x-amz-trailer-signature"
	streamingChunkAlg = "AWS4-HMAC-SHA256-PAYLOAD"
	streamingTrailAlg = "AWS4-HMAC-SHA256-TRAILER"
)

// chunkError reports malformed aws-chunked framing or a chunk whose
// signature does not verify.
type chunkError struct {
	msg       string
	signature bool // a signature did not verify
	tooLarge  bool // the decoded body exceeds the allowed size
}

func (e *chunkError) Error() string { return "aws-chunked body: " + e.msg }

func malformedChunk(format string, args ...any) error {
	return &chunkError{msg: fmt.Sprintf(format, args...)}
}

// chunkSigner verifies the chained chunk signatures of a signed stream.
type chunkSigner struct {
	key     []byte // SigV4 signing key of the request
	amzDate string // X-Amz-Date of the request
	scope   string // credential scope of the request
	prevSig string // seed signature, then the signature of the last chunk
}

func (c *chunkSigner) chunkSignature(chunkSHA256 []byte) string {
	sts := streamingChunkAlg + "\n" + c.amzDate + "\n" + c.scope + "\n" + c.prevSig + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(chunkSHA256)
	return hex.EncodeToString(hmacSHA256(c.key, []byte(sts)))
}

func (c *chunkSigner) trailerSignature(trailer []byte) string {
	sum := sha256.Sum256(trailer)
	sts := streamingTrailAlg + "\n" + c.amzDate + "\n" + c.scope + "\n" + c.prevSig + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(c.key, []byte(sts)))
}

// chunkedReader decodes an aws-chunked body. Data of a chunk is handed out
// before the chunk's signature is checked at the chunk's end, so a consumer
// must not act on the data (commit an object) before Read returned io.EOF.
type chunkedReader struct {
	br       *bufio.Reader
	signer   *chunkSigner // nil for an unsigned stream
	trailer  bool         // a trailer follows the final chunk
	limit    int64        // most decoded bytes accepted
	total    int64        // decoded bytes so far
	left     int64        // data bytes left in the current chunk
	inChunk  bool
	chunkSig string
	sha      hash.Hash
	err      error
	trailers []trailerField
}

type trailerField struct{ name, value string }

// newChunkedReader decodes r. signer is nil for STREAMING-UNSIGNED-PAYLOAD-TRAILER
// bodies; trailer tells whether trailing headers follow the final chunk; at
// most limit decoded bytes are accepted.
func newChunkedReader(r io.Reader, signer *chunkSigner, trailer bool, limit int64) *chunkedReader {
	cr := &chunkedReader{
		br:      bufio.NewReaderSize(r, 64<<10),
		signer:  signer,
		trailer: trailer,
		limit:   limit,
	}
	if signer != nil {
		cr.sha = sha256.New()
	}
	return cr
}

// Trailers returns the trailing headers, valid once Read returned io.EOF.
func (cr *chunkedReader) Trailers() []trailerField { return cr.trailers }

func (cr *chunkedReader) Read(p []byte) (int, error) {
	if cr.err != nil {
		return 0, cr.err
	}
	if !cr.inChunk {
		if err := cr.readChunkHeader(); err != nil {
			cr.err = err
			return 0, err
		}
		if !cr.inChunk { // final chunk handled
			cr.err = io.EOF
			return 0, io.EOF
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > cr.left {
		p = p[:cr.left]
	}
	n, err := cr.br.Read(p)
	if n > 0 {
		cr.left -= int64(n)
		cr.total += int64(n)
		if cr.sha != nil {
			cr.sha.Write(p[:n])
		}
	}
	if cr.left == 0 {
		if ferr := cr.finishChunk(); ferr != nil {
			cr.err = ferr
			return n, ferr
		}
		return n, nil
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = malformedChunk("body ends inside a chunk (%d bytes missing)", cr.left)
		}
		cr.err = err
		return n, err
	}
	return n, nil
}

// readLine reads one CRLF-terminated line of at most maxChunkLineLen bytes.
func (cr *chunkedReader) readLine() (string, error) {
	var line []byte
	for {
		frag, err := cr.br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxChunkLineLen {
			return "", malformedChunk("chunk header line longer than %d bytes", maxChunkLineLen)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return "", malformedChunk("body ends before the final zero-length chunk")
		}
		return "", err
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return "", malformedChunk("chunk header line not terminated by CRLF")
	}
	return string(line[:len(line)-2]), nil
}

func (cr *chunkedReader) readChunkHeader() error {
	line, err := cr.readLine()
	if err != nil {
		return err
	}
	sizeStr, ext, hasExt := strings.Cut(line, ";")
	if sizeStr == "" || len(sizeStr) > 16 {
		return malformedChunk("invalid chunk size %q", sizeStr)
	}
	size, perr := strconv.ParseUint(sizeStr, 16, 64)
	if perr != nil {
		return malformedChunk("invalid chunk size %q", sizeStr)
	}
	if size > uint64(cr.limit-cr.total) {
		return &chunkError{msg: fmt.Sprintf("chunk of %d bytes exceeds the %d decoded bytes allowed", size, cr.limit), tooLarge: true}
	}
	if cr.signer != nil {
		if !hasExt || !strings.HasPrefix(ext, chunkSigPrefix) {
			return &chunkError{msg: "chunk without chunk-signature", signature: true}
		}
		sig := ext[len(chunkSigPrefix):]
		if len(sig) != 64 || !isLowerHex(sig) {
			return &chunkError{msg: "malformed chunk-signature", signature: true}
		}
		cr.chunkSig = sig
		cr.sha.Reset()
	}
	cr.left = int64(size)
	if size > 0 {
		cr.inChunk = true
		return nil
	}
	// Final zero-length chunk.
	if cr.signer != nil {
		if err := cr.verifyChunkSignature(); err != nil {
			return err
		}
	}
	if cr.trailer {
		return cr.readTrailer()
	}
	rest, err := io.ReadAll(io.LimitReader(cr.br, 3))
	if err != nil {
		return err
	}
	if len(rest) != 0 && string(rest) != "\r\n" {
		return malformedChunk("unexpected data after the final chunk")
	}
	return nil
}

func (cr *chunkedReader) verifyChunkSignature() error {
	want := cr.signer.chunkSignature(cr.sha.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(cr.chunkSig)) {
		return &chunkError{msg: "chunk signature does not match", signature: true}
	}
	cr.signer.prevSig = cr.chunkSig
	return nil
}

func (cr *chunkedReader) finishChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(cr.br, crlf[:]); err != nil || crlf != [2]byte{'\r', '\n'} {
		return malformedChunk("chunk data not followed by CRLF")
	}
	cr.inChunk = false
	if cr.signer != nil {
		return cr.verifyChunkSignature()
	}
	return nil
}

// readTrailer parses the trailing headers after the final chunk. Lines end
// in LF or CRLF and blank lines are skipped, which accepts both the layout
// of the AWS documentation and the one minio-go writes.
func (cr *chunkedReader) readTrailer() error {
	raw, err := io.ReadAll(io.LimitReader(cr.br, maxTrailerLen+1))
	if err != nil {
		return err
	}
	if len(raw) > maxTrailerLen {
		return malformedChunk("trailer longer than %d bytes", maxTrailerLen)
	}
	var canonical strings.Builder
	var sig string
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return malformedChunk("malformed trailer line %q", line)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name == trailerSigName {
			if sig != "" {
				return malformedChunk("trailer signature given twice")
			}
			sig = value
			continue
		}
		if sig != "" {
			return malformedChunk("trailer header %q after the trailer signature", name)
		}
		cr.trailers = append(cr.trailers, trailerField{name: name, value: value})
		canonical.WriteString(name + ":" + value + "\n")
	}
	if cr.signer == nil {
		return nil
	}
	if sig == "" {
		return &chunkError{msg: "signed trailer without x-amz-trailer-signature", signature: true}
	}
	want := cr.signer.trailerSignature([]byte(canonical.String()))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return &chunkError{msg: "trailer signature does not match", signature: true}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
