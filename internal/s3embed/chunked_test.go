package s3embed

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/signer"
)

// Test fixture for signed streams, computed independently of chunked.go.
const (
	fixtureDate   = "20250102T030405Z"
	fixtureScope  = "20250102/us-east-1/s3/aws4_request"
	fixtureSeed   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	fixtureSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func fixtureKey() []byte {
	mac := func(k []byte, s string) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+fixtureSecret), "20250102")
	k = mac(k, "us-east-1")
	k = mac(k, "s3")
	return mac(k, "aws4_request")
}

func fixtureSigner() *chunkSigner {
	return &chunkSigner{key: fixtureKey(), amzDate: fixtureDate, scope: fixtureScope, prevSig: fixtureSeed}
}

type encodeOpts struct {
	signed     bool
	trailers   []trailerField
	minioStyle bool // trailer lines end in LF and a blank line precedes the signature
}

// encodeChunked frames payload as aws-chunked, following the AWS
// documentation of STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) and
// STREAMING-UNSIGNED-PAYLOAD-TRAILER.
func encodeChunked(payload []byte, chunkSize int, o encodeOpts) []byte {
	key := fixtureKey()
	prev := fixtureSeed
	sign := func(sts string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(sts))
		return hex.EncodeToString(m.Sum(nil))
	}
	var b bytes.Buffer
	writeChunk := func(data []byte) {
		fmt.Fprintf(&b, "%x", len(data))
		if o.signed {
			sum := sha256.Sum256(data)
			sig := sign("AWS4-HMAC-SHA256-PAYLOAD\n" + fixtureDate + "\n" + fixtureScope + "\n" + prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum[:]))
			prev = sig
			b.WriteString(";chunk-signature=" + sig)
		}
		b.WriteString("\r\n")
		b.Write(data)
	}
	for len(payload) > 0 {
		n := min(chunkSize, len(payload))
		writeChunk(payload[:n])
		b.WriteString("\r\n")
		payload = payload[n:]
	}
	writeChunk(nil)
	if o.trailers == nil {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	var canon strings.Builder
	eol := "\r\n"
	if o.minioStyle {
		eol = "\n"
	}
	for _, t := range o.trailers {
		canon.WriteString(t.name + ":" + t.value + "\n")
		b.WriteString(t.name + ":" + t.value + eol)
	}
	if o.minioStyle {
		b.WriteString("\r\n")
	}
	if o.signed {
		sum := sha256.Sum256([]byte(canon.String()))
		sig := sign("AWS4-HMAC-SHA256-TRAILER\n" + fixtureDate + "\n" + fixtureScope + "\n" + prev + "\n" + hex.EncodeToString(sum[:]))
		b.WriteString("x-amz-trailer-signature:" + sig + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func decodeAll(raw []byte, signed, trailer bool, limit int64) ([]byte, *chunkedReader, error) {
	var s *chunkSigner
	if signed {
		s = fixtureSigner()
	}
	cr := newChunkedReader(bytes.NewReader(raw), s, trailer, limit)
	out, err := io.ReadAll(cr)
	return out, cr, err
}

func TestChunkedDecoder(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160000 bytes
	crc := []trailerField{{"x-amz-checksum-crc32c", "sOO8/Q=="}}
	flip := func(raw []byte, at int) []byte {
		c := bytes.Clone(raw)
		c[at] ^= 0x01
		return c
	}
	signedRaw := encodeChunked(payload, 65536, encodeOpts{signed: true})
	firstData := bytes.Index(signedRaw, []byte("\r\n")) + 2

	cases := []struct {
		name    string
		raw     []byte
		signed  bool
		trailer bool
		limit   int64
		want    []byte
		wantErr string // substring; empty for success
		sigErr  bool
	}{
		{"signed", signedRaw, true, false, 1 << 20, payload, "", false},
		{"signed-one-byte-chunks", encodeChunked(payload[:300], 1, encodeOpts{signed: true}), true, false, 1 << 20, payload[:300], "", false},
		{"signed-empty", encodeChunked(nil, 10, encodeOpts{signed: true}), true, false, 1 << 20, nil, "", false},
		{"signed-trailer-aws", encodeChunked(payload, 8192, encodeOpts{signed: true, trailers: crc}), true, true, 1 << 20, payload, "", false},
		{"signed-trailer-minio", encodeChunked(payload, 8192, encodeOpts{signed: true, trailers: crc, minioStyle: true}), true, true, 1 << 20, payload, "", false},
		{"unsigned-trailer", encodeChunked(payload, 65536, encodeOpts{trailers: crc}), false, true, 1 << 20, payload, "", false},
		{"unsigned-trailer-minio", encodeChunked(payload, 65536, encodeOpts{trailers: crc, minioStyle: true}), false, true, 1 << 20, payload, "", false},
		{"tampered-data", flip(signedRaw, firstData+10), true, false, 1 << 20, nil, "chunk signature does not match", true},
		{"tampered-signature", flip(signedRaw, firstData-5), true, false, 1 << 20, nil, "signature", true},
		{"wrong-seed", signedRaw, true, false, 1 << 20, nil, "chunk signature does not match", true},
		{"truncated", signedRaw[:len(signedRaw)/2], true, false, 1 << 20, nil, "body ends inside a chunk", false},
		{"missing-final-chunk", signedRaw[:bytes.LastIndex(signedRaw, []byte("0;chunk"))], true, false, 1 << 20, nil, "before the final zero-length chunk", false},
		{"over-limit", signedRaw, true, false, 100000, nil, "exceeds", false},
		{"unsigned-chunk-in-signed-mode", encodeChunked(payload, 65536, encodeOpts{trailers: crc}), true, true, 1 << 20, nil, "without chunk-signature", true},
		{"bad-size", []byte("zz;chunk-signature=00\r\n"), true, false, 1 << 20, nil, "invalid chunk size", false},
		{"huge-size", []byte("ffffffffffffffff\r\n"), false, true, 1 << 20, nil, "exceeds", false},
		{"no-crlf-after-data", []byte("3\r\nabcX\n0\r\n\r\n"), false, true, 1 << 20, nil, "not followed by CRLF", false},
		{"long-header-line", append(bytes.Repeat([]byte("0"), 5000), "\r\n"...), false, true, 1 << 20, nil, "longer than", false},
		{"junk-after-final-chunk", append(encodeChunked(payload[:10], 5, encodeOpts{signed: true}), "junk"...), true, false, 1 << 20, nil, "unexpected data", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s *chunkSigner
			if tc.signed {
				s = fixtureSigner()
				if tc.name == "wrong-seed" {
					s.prevSig = strings.Repeat("0", 64)
				}
			}
			cr := newChunkedReader(bytes.NewReader(tc.raw), s, tc.trailer, tc.limit)
			got, err := io.ReadAll(cr)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Fatalf("decoded %d bytes, want %d", len(got), len(tc.want))
				}
				if tc.trailer {
					if tr := cr.Trailers(); len(tr) != 1 || tr[0] != crc[0] {
						t.Errorf("trailers = %v, want %v", tr, crc)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			var ce *chunkError
			if !errors.As(err, &ce) || ce.signature != tc.sigErr {
				t.Errorf("error %v: signature=%v, want %v", err, ce != nil && ce.signature, tc.sigErr)
			}
		})
	}
}

type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// TestChunkedDecoderMinioFraming decodes bodies framed by minio-go's own
// streaming signer, with and without a signed trailer.
func TestChunkedDecoderMinioFraming(t *testing.T) {
	payload := bytes.Repeat([]byte("minio-go framing "), 20000)
	for _, withTrailer := range []bool{false, true} {
		t.Run(fmt.Sprintf("trailer=%v", withTrailer), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/key", io.NopCloser(bytes.NewReader(payload)))
			if withTrailer {
				req.Trailer = http.Header{"X-Amz-Checksum-Crc32c": {"AAAAAA=="}}
			}
			now := time.Now().UTC()
			req = signer.StreamingSignV4(req, "ak", fixtureSecret, "", "us-east-1", int64(len(payload)), now, sha256Hasher{sha256.New()})
			raw, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			authz := req.Header.Get("Authorization")
			seed := authz[strings.LastIndex(authz, "Signature=")+len("Signature="):]
			cred := credential{accessKey: "ak", date: now.Format("20060102"), region: "us-east-1", service: "s3"}
			s := &chunkSigner{key: signingKey(fixtureSecret, cred), amzDate: req.Header.Get("X-Amz-Date"), scope: cred.scope(), prevSig: seed}
			cr := newChunkedReader(bytes.NewReader(raw), s, withTrailer, 1<<30)
			got, err := io.ReadAll(cr)
			if err != nil {
				t.Fatalf("decode minio-go framing: %v", err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("decoded %d bytes, want %d", len(got), len(payload))
			}
			if withTrailer {
				if tr := cr.Trailers(); len(tr) != 1 || tr[0].name != "x-amz-checksum-crc32c" {
					t.Errorf("trailers = %v", tr)
				}
			}
		})
	}
}

func FuzzChunkedDecoder(f *testing.F) {
	crc := []trailerField{{"x-amz-checksum-crc32c", "sOO8/Q=="}}
	f.Add(encodeChunked([]byte("hello world"), 4, encodeOpts{signed: true}), []byte("payload"), uint16(3), uint8(0))
	f.Add(encodeChunked([]byte("hello world"), 4, encodeOpts{signed: true, trailers: crc, minioStyle: true}), []byte(""), uint16(1), uint8(1))
	f.Add(encodeChunked([]byte("hello world"), 64, encodeOpts{trailers: crc}), bytes.Repeat([]byte{7}, 1000), uint16(100), uint8(2))
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), []byte("x"), uint16(0), uint8(5))
	f.Add([]byte("0;chunk-signature=\r\n\r\n"), []byte{}, uint16(65535), uint8(3))
	f.Fuzz(func(t *testing.T, raw, payload []byte, chunkSize uint16, mode uint8) {
		// Arbitrary input never panics and never yields more than it holds.
		for _, m := range []struct{ signed, trailer bool }{{true, false}, {true, true}, {false, true}} {
			out, _, _ := decodeAll(raw, m.signed, m.trailer, 1<<20)
			if len(out) > len(raw) {
				t.Fatalf("decoded %d bytes from %d input bytes", len(out), len(raw))
			}
		}
		// A payload framed by the encoder decodes back to itself.
		o := encodeOpts{signed: mode&1 == 0, minioStyle: mode&4 != 0}
		if mode&2 != 0 {
			o.trailers = crc
		}
		size := int(chunkSize)%4096 + 1
		enc := encodeChunked(payload, size, o)
		out, _, err := decodeAll(enc, o.signed, o.trailers != nil, int64(len(payload)))
		if err != nil {
			t.Fatalf("round trip (chunk %d, opts %+v): %v", size, o, err)
		}
		if !bytes.Equal(out, payload) {
			t.Fatalf("round trip returned %d bytes, want %d", len(out), len(payload))
		}
		// Changing a data byte of a signed stream is detected.
		if o.signed && len(payload) > 0 {
			at := bytes.Index(enc, []byte("\r\n")) + 2
			enc[at] ^= 0x01
			if _, _, err := decodeAll(enc, true, o.trailers != nil, int64(len(payload))); err == nil {
				t.Fatalf("tampered signed stream decoded without error")
			}
		}
	})
}
