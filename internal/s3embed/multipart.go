package s3embed

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// uploadMeta is upload.json of a pending multipart upload.
type uploadMeta struct {
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Initiated   time.Time         `json:"initiated"`
	ContentType string            `json:"contentType,omitempty"`
	UserMeta    map[string]string `json:"userMeta,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
}

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	XMLNS    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

type completeMultipartUpload struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	XMLNS    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

type partEntry struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

type listPartsResult struct {
	XMLName              xml.Name    `xml:"ListPartsResult"`
	XMLNS                string      `xml:"xmlns,attr"`
	Bucket               string      `xml:"Bucket"`
	Key                  string      `xml:"Key"`
	UploadID             string      `xml:"UploadId"`
	Initiator            owner       `xml:"Initiator"`
	Owner                owner       `xml:"Owner"`
	StorageClass         string      `xml:"StorageClass"`
	PartNumberMarker     int         `xml:"PartNumberMarker"`
	NextPartNumberMarker int         `xml:"NextPartNumberMarker"`
	MaxParts             int         `xml:"MaxParts"`
	IsTruncated          bool        `xml:"IsTruncated"`
	Parts                []partEntry `xml:"Part"`
}

type uploadEntry struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    owner  `xml:"Initiator"`
	Owner        owner  `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
}

type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"ListMultipartUploadsResult"`
	XMLNS              string         `xml:"xmlns,attr"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	Prefix             string         `xml:"Prefix"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []uploadEntry  `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
}

func validUploadID(id string) bool { return len(id) == 32 && isLowerHex(id) }

func (s *Server) uploadDir(id string) string { return filepath.Join(s.dir, "multipart", id) }

func partFileName(n int) string { return fmt.Sprintf("part-%05d", n) }

func readUploadMeta(dir string) (*uploadMeta, error) {
	js, err := os.ReadFile(filepath.Join(dir, "upload.json"))
	if err != nil {
		return nil, err
	}
	m := &uploadMeta{}
	if err := json.Unmarshal(js, m); err != nil {
		return nil, fmt.Errorf("%s: decode upload.json: %w", dir, err)
	}
	return m, nil
}

// loadUpload returns the metadata of upload id, which must belong to
// bucket and key.
func (s *Server) loadUpload(id, bucket, key string) (*uploadMeta, *apiError) {
	if !validUploadID(id) {
		return nil, errNoSuchUpload(id)
	}
	m, err := readUploadMeta(s.uploadDir(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNoSuchUpload(id)
		}
		return nil, errInternal(err)
	}
	if m.Bucket != bucket || m.Key != key {
		return nil, errNoSuchUpload(id)
	}
	return m, nil
}

func (s *Server) handleCreateUpload(w http.ResponseWriter, r *http.Request, bucket, key string) *apiError {
	if !s.bucketExists(bucket) {
		return errNoSuchBucket(bucket)
	}
	contentType, user, headers, aerr := objectMetadata(r)
	if aerr != nil {
		return aerr
	}
	id := randomHex(16)
	staging, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return errInternal(err)
	}
	meta := uploadMeta{Bucket: bucket, Key: key, Initiated: s.now().UTC(), ContentType: contentType, UserMeta: user, Headers: headers}
	if err := writeJSONFile(filepath.Join(staging, "upload.json"), meta); err != nil {
		os.RemoveAll(staging)
		return errInternal(err)
	}
	if err := os.Rename(staging, s.uploadDir(id)); err != nil {
		os.RemoveAll(staging)
		return errInternal(fmt.Errorf("create multipart upload folder: %w", err))
	}
	syncDir(filepath.Join(s.dir, "multipart"))
	writeXML(w, http.StatusOK, initiateMultipartUploadResult{XMLNS: s3Namespace, Bucket: bucket, Key: key, UploadID: id})
	return nil
}

func parsePartNumber(v string) (int, *apiError) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxParts {
		return 0, errInvalidArgument("partNumber %q is not between 1 and %d", v, MaxParts)
	}
	return n, nil
}

func (s *Server) handleUploadPart(w http.ResponseWriter, r *http.Request, a *authInfo, bucket, key string) *apiError {
	q := r.URL.Query()
	id := q.Get("uploadId")
	n, aerr := parsePartNumber(q.Get("partNumber"))
	if aerr != nil {
		return aerr
	}
	if _, aerr := s.loadUpload(id, bucket, key); aerr != nil {
		return aerr
	}
	rcv, aerr := s.receiveBody(r, a, MaxPartSize)
	if aerr != nil {
		return aerr
	}
	rec := &objectRecord{Size: rcv.size, ETag: hex.EncodeToString(rcv.md5), LastModified: s.now().UTC(), Checksums: rcv.checksums, PartNumber: n}
	tmp, err := finishTemp(rcv.f, rec)
	if err != nil {
		return errInternal(err)
	}
	s.mpMu.Lock()
	if _, aerr := s.loadUpload(id, bucket, key); aerr != nil {
		s.mpMu.Unlock()
		os.Remove(tmp)
		return aerr
	}
	err = placeFile(tmp, filepath.Join(s.uploadDir(id), partFileName(n)))
	s.mpMu.Unlock()
	if err != nil {
		return errInternal(err)
	}
	w.Header().Set("ETag", quoteETag(rec.ETag))
	for alg, v := range rcv.checksums {
		w.Header().Set("x-amz-checksum-"+alg, v)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// claimUpload renames an upload's folder to <id>.<purpose> so that no other
// request can add parts, complete or abort it meanwhile. A folder left
// claimed by a crash is restored (complete) or removed (abort) by
// recoverUploads.
func (s *Server) claimUpload(id, bucket, key, purpose string) (string, *uploadMeta, *apiError) {
	s.mpMu.Lock()
	defer s.mpMu.Unlock()
	m, aerr := s.loadUpload(id, bucket, key)
	if aerr != nil {
		return "", nil, aerr
	}
	claimed := s.uploadDir(id) + "." + purpose
	if err := os.Rename(s.uploadDir(id), claimed); err != nil {
		return "", nil, errInternal(fmt.Errorf("claim multipart upload %s: %w", id, err))
	}
	return claimed, m, nil
}

// releaseUpload puts a claimed upload back so the client can retry.
func (s *Server) releaseUpload(id, claimed string) {
	s.mpMu.Lock()
	defer s.mpMu.Unlock()
	if err := os.Rename(claimed, s.uploadDir(id)); err != nil {
		s.log.Error("s3embed: could not restore multipart upload", "upload_id", id, "err", err)
	}
}

func (s *Server) handleCompleteUpload(w http.ResponseWriter, r *http.Request, a *authInfo, bucket, key string) *apiError {
	id := r.URL.Query().Get("uploadId")
	body, aerr := readSmallBody(r, a, maxXMLBody)
	if aerr != nil {
		return aerr
	}
	var req completeMultipartUpload
	if err := xml.Unmarshal(body, &req); err != nil {
		return errMalformedXML("CompleteMultipartUpload does not parse: %v", err)
	}
	if len(req.Parts) == 0 || len(req.Parts) > MaxParts {
		return errMalformedXML("CompleteMultipartUpload lists %d parts; 1 to %d are allowed", len(req.Parts), MaxParts)
	}
	for i, p := range req.Parts {
		if p.PartNumber < 1 || p.PartNumber > MaxParts {
			return newAPIError(http.StatusBadRequest, "InvalidPart", "part number %d is not between 1 and %d", p.PartNumber, MaxParts)
		}
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			return newAPIError(http.StatusBadRequest, "InvalidPartOrder", "part %d is listed after part %d; parts must be in ascending order", p.PartNumber, req.Parts[i-1].PartNumber)
		}
	}
	if !s.bucketExists(bucket) {
		return errNoSuchBucket(bucket)
	}
	claimed, meta, aerr := s.claimUpload(id, bucket, key, "complete")
	if aerr != nil {
		return aerr
	}
	rec, aerr := s.assembleUpload(claimed, meta, req)
	if aerr != nil {
		s.releaseUpload(id, claimed)
		return aerr
	}
	// The object is committed: mark the parts for removal before removing
	// them, so a crash in between does not bring the upload back.
	done := s.uploadDir(id) + ".abort"
	if err := os.Rename(claimed, done); err != nil {
		done = claimed
	}
	if err := os.RemoveAll(done); err != nil {
		s.log.Warn("s3embed: could not remove completed multipart parts", "path", done, "err", err)
	}
	writeXML(w, http.StatusOK, completeMultipartUploadResult{
		XMLNS: s3Namespace, Location: "http://" + r.Host + "/" + bucket + "/" + s3EncodePath(key),
		Bucket: bucket, Key: key, ETag: quoteETag(rec.ETag),
	})
	return nil
}

// assembleUpload checks the listed parts and concatenates them, streaming,
// into the object.
func (s *Server) assembleUpload(dir string, meta *uploadMeta, req completeMultipartUpload) (*objectRecord, *apiError) {
	recs := make([]*objectRecord, len(req.Parts))
	var total int64
	for i, p := range req.Parts {
		rec, err := readRecordFile(filepath.Join(dir, partFileName(p.PartNumber)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, newAPIError(http.StatusBadRequest, "InvalidPart", "part %d was never uploaded", p.PartNumber)
			}
			return nil, errInternal(err)
		}
		if etag := strings.Trim(strings.TrimSpace(p.ETag), `"`); etag != rec.ETag {
			return nil, newAPIError(http.StatusBadRequest, "InvalidPart", "part %d has ETag %q, the request names %q", p.PartNumber, rec.ETag, etag)
		}
		if i < len(req.Parts)-1 && rec.Size < MinPartSize {
			return nil, newAPIError(http.StatusBadRequest, "EntityTooSmall", "part %d is %d bytes; every part but the last must be at least %d", p.PartNumber, rec.Size, MinPartSize)
		}
		total += rec.Size
		recs[i] = rec
	}
	if total > MaxMultipartObjectSize {
		return nil, errEntityTooLarge(total, MaxMultipartObjectSize)
	}

	f, err := s.newTemp("complete-*")
	if err != nil {
		return nil, errInternal(err)
	}
	etags := md5.New()
	for i, p := range req.Parts {
		sum, err := hex.DecodeString(recs[i].ETag)
		if err != nil {
			discard(f)
			return nil, errInternal(fmt.Errorf("part %d: stored ETag %q is not hex", p.PartNumber, recs[i].ETag))
		}
		etags.Write(sum)
		pf, err := os.Open(filepath.Join(dir, partFileName(p.PartNumber)))
		if err != nil {
			discard(f)
			return nil, errInternal(err)
		}
		n, err := copyData(f, pf, 0, recs[i].Size)
		pf.Close()
		if err != nil || n != recs[i].Size {
			discard(f)
			return nil, errInternal(fmt.Errorf("copy part %d: %d of %d bytes: %v", p.PartNumber, n, recs[i].Size, err))
		}
	}
	rec := &objectRecord{
		Key: meta.Key, Size: total,
		ETag:         hex.EncodeToString(etags.Sum(nil)) + "-" + strconv.Itoa(len(req.Parts)),
		LastModified: s.now().UTC(), ContentType: meta.ContentType,
		UserMeta: meta.UserMeta, Headers: meta.Headers, PartCount: len(req.Parts),
	}
	tmp, err := finishTemp(f, rec)
	if err != nil {
		return nil, errInternal(err)
	}
	if aerr := s.commitObject(tmp, meta.Bucket, rec, nil); aerr != nil {
		return nil, aerr
	}
	return rec, nil
}

func (s *Server) handleAbortUpload(w http.ResponseWriter, id, bucket, key string) *apiError {
	claimed, _, aerr := s.claimUpload(id, bucket, key, "abort")
	if aerr != nil {
		return aerr
	}
	if err := os.RemoveAll(claimed); err != nil {
		s.log.Warn("s3embed: could not remove aborted multipart parts", "path", claimed, "err", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// abortBucketUploads drops the pending uploads of a deleted bucket.
func (s *Server) abortBucketUploads(bucket string) {
	for _, u := range s.pendingUploads(bucket, "") {
		if claimed, _, aerr := s.claimUpload(u.id, bucket, u.meta.Key, "abort"); aerr == nil {
			os.RemoveAll(claimed)
		}
	}
}

// recoverUploads puts back uploads whose completion was interrupted and
// removes those whose abort was.
func (s *Server) recoverUploads() error {
	root := filepath.Join(s.dir, "multipart")
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("read %s: %w", root, err)
	}
	for _, e := range entries {
		id, purpose, ok := strings.Cut(e.Name(), ".")
		if !ok || !validUploadID(id) {
			continue
		}
		p := filepath.Join(root, e.Name())
		switch purpose {
		case "complete":
			err = os.Rename(p, s.uploadDir(id))
		case "abort":
			err = os.RemoveAll(p)
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("recover multipart upload %s: %w", e.Name(), err)
		}
		s.log.Info("s3embed: recovered interrupted multipart operation", "upload_id", id, "operation", purpose)
	}
	return nil
}

type pendingUpload struct {
	id   string
	meta *uploadMeta
}

// pendingUploads lists the uploads of bucket whose key starts with prefix,
// sorted by key, initiation time and id.
func (s *Server) pendingUploads(bucket, prefix string) []pendingUpload {
	entries, err := os.ReadDir(filepath.Join(s.dir, "multipart"))
	if err != nil {
		s.log.Error("s3embed: cannot read multipart folder", "err", err)
		return nil
	}
	var out []pendingUpload
	for _, e := range entries {
		if !e.IsDir() || !validUploadID(e.Name()) {
			continue
		}
		m, err := readUploadMeta(s.uploadDir(e.Name()))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("s3embed: skipping unreadable multipart upload", "upload_id", e.Name(), "err", err)
			}
			continue
		}
		if m.Bucket == bucket && strings.HasPrefix(m.Key, prefix) {
			out = append(out, pendingUpload{id: e.Name(), meta: m})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.meta.Key != b.meta.Key {
			return a.meta.Key < b.meta.Key
		}
		if !a.meta.Initiated.Equal(b.meta.Initiated) {
			return a.meta.Initiated.Before(b.meta.Initiated)
		}
		return a.id < b.id
	})
	return out
}

func (s *Server) handleListUploads(w http.ResponseWriter, r *http.Request, bucket string) *apiError {
	if !s.bucketExists(bucket) {
		return errNoSuchBucket(bucket)
	}
	q := r.URL.Query()
	prefix, delimiter := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	maxUploads, aerr := parseMaxKeys(q.Get("max-uploads"), defaultMaxKeys)
	if aerr != nil {
		return aerr
	}
	encodingType := q.Get("encoding-type")
	if encodingType != "" && encodingType != "url" {
		return errInvalidArgument("encoding-type %q is not supported; use url", encodingType)
	}
	enc := func(s string) string {
		if encodingType == "url" {
			return awsURIEncode(s, false)
		}
		return s
	}
	res := listMultipartUploadsResult{
		XMLNS: s3Namespace, Bucket: bucket, KeyMarker: enc(keyMarker), UploadIDMarker: idMarker,
		Delimiter: enc(delimiter), Prefix: enc(prefix), EncodingType: encodingType, MaxUploads: maxUploads,
	}
	all := s.pendingUploads(bucket, prefix)
	markerIsPrefix := keyMarker != "" && delimiter != "" && strings.HasPrefix(keyMarker, prefix) &&
		strings.HasSuffix(keyMarker, delimiter) &&
		strings.Index(keyMarker[len(prefix):], delimiter) == len(keyMarker)-len(prefix)-len(delimiter)
	pastMarker := idMarker == ""
	count := 0
	lastPrefix := ""
	for _, u := range all {
		k := u.meta.Key
		if keyMarker != "" {
			if k < keyMarker || (markerIsPrefix && strings.HasPrefix(k, keyMarker)) {
				continue
			}
			if k == keyMarker {
				if !pastMarker {
					if u.id == idMarker {
						pastMarker = true
					}
					continue
				}
				if idMarker == "" {
					continue
				}
			}
		}
		cp := ""
		if delimiter != "" {
			if j := strings.Index(k[len(prefix):], delimiter); j >= 0 {
				cp = k[:len(prefix)+j+len(delimiter)]
				if cp == lastPrefix {
					continue
				}
			}
		}
		if count == maxUploads {
			res.IsTruncated = true
			break
		}
		count++
		if cp != "" {
			lastPrefix = cp
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
			res.NextKeyMarker, res.NextUploadIDMarker = enc(cp), ""
			continue
		}
		res.Uploads = append(res.Uploads, uploadEntry{
			Key: enc(k), UploadID: u.id, StorageClass: "STANDARD",
			Initiator: owner{ID: ownerID, DisplayName: ownerID}, Owner: owner{ID: ownerID, DisplayName: ownerID},
			Initiated: u.meta.Initiated.UTC().Format(xmlTimeFormat),
		})
		res.NextKeyMarker, res.NextUploadIDMarker = enc(k), u.id
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	}
	writeXML(w, http.StatusOK, res)
	return nil
}

func (s *Server) handleListParts(w http.ResponseWriter, r *http.Request, bucket, key string) *apiError {
	q := r.URL.Query()
	id := q.Get("uploadId")
	if _, aerr := s.loadUpload(id, bucket, key); aerr != nil {
		return aerr
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errInvalidArgument("part-number-marker %q is not a non-negative integer", v)
		}
		marker = n
	}
	maxParts, aerr := parseMaxKeys(q.Get("max-parts"), defaultMaxKeys)
	if aerr != nil {
		return aerr
	}
	dir := s.uploadDir(id)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errNoSuchUpload(id)
		}
		return errInternal(err)
	}
	var numbers []int
	for _, e := range entries {
		num, ok := strings.CutPrefix(e.Name(), "part-")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n > marker {
			numbers = append(numbers, n)
		}
	}
	sort.Ints(numbers)
	res := listPartsResult{
		XMLNS: s3Namespace, Bucket: bucket, Key: key, UploadID: id, StorageClass: "STANDARD",
		Initiator: owner{ID: ownerID, DisplayName: ownerID}, Owner: owner{ID: ownerID, DisplayName: ownerID},
		PartNumberMarker: marker, MaxParts: maxParts,
	}
	for _, n := range numbers {
		if len(res.Parts) == maxParts {
			res.IsTruncated = true
			break
		}
		rec, err := readRecordFile(filepath.Join(dir, partFileName(n)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return errInternal(err)
		}
		res.Parts = append(res.Parts, partEntry{
			PartNumber: n, LastModified: rec.LastModified.UTC().Format(xmlTimeFormat),
			ETag: quoteETag(rec.ETag), Size: rec.Size,
		})
		res.NextPartNumberMarker = n
	}
	writeXML(w, http.StatusOK, res)
	return nil
}
