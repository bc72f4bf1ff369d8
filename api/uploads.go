package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Presigned uploads: for artifacts too large to stream through the API, the vendor sends the
// signed manifest first, gets a short-lived presigned PUT URL per artifact, uploads straight to
// the object store, and completes the upload; otpatch then reads each object once to check its
// size and SHA-256 before it accepts the patch.

// MaxPresignedBytes bounds the artifacts of one presigned upload.
const MaxPresignedBytes = 64 << 30

type uploadRequest struct {
	Manifest  string `json:"manifest" api:"required" doc:"The manifest JSON exactly as signed, as a string"`
	Signature string `json:"signature" api:"required" doc:"The base64 ed25519 signature of the manifest bytes"`
}

// uploadTarget is where to put one artifact.
type uploadTarget struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Method string `json:"method" doc:"The HTTP method to send the artifact with (PUT)"`
	URL    string `json:"url" doc:"The presigned object store URL; it needs no other credential and expires at expires_at"`
}

// uploadView is an upload started: where to put each artifact, and where to complete it.
type uploadView struct {
	UploadID  string         `json:"upload_id" doc:"The upload's id; the patch, once submitted, has the same id"`
	ExpiresAt time.Time      `json:"expires_at"`
	Artifacts []uploadTarget `json:"artifacts"`
	Complete  string         `json:"complete" doc:"The URL path to POST to once every artifact is uploaded"`
}

func (s *server) presignExpiry() time.Duration {
	if s.PresignExpiry > 0 {
		return s.PresignExpiry
	}
	return 15 * time.Minute
}

func (s *server) startUpload(w http.ResponseWriter, r *http.Request) {
	var in uploadRequest
	sub := &submission{s: s, w: w, r: r, details: map[string]any{"presigned": true}, patchID: store.NewID("pat")}
	if err := decode(w, r, &in); err != nil {
		var big *tooLargeError
		if errors.As(err, &big) {
			sub.refuse(http.StatusRequestEntityTooLarge, big.Error(), nil)
			return
		}
		var v *domain.ValidationError
		errors.As(err, &v)
		sub.refuse(http.StatusUnprocessableEntity, err.Error(), v.Fields)
		return
	}
	adm, ok := sub.admit([]byte(in.Manifest), in.Signature, MaxPresignedBytes)
	if !ok {
		return
	}
	expires := s.Store.Now().Add(s.presignExpiry())
	view := uploadView{UploadID: sub.patchID, ExpiresAt: expires, Complete: "/api/v1/patches/uploads/" + sub.patchID + "/complete"}
	for _, a := range adm.manifest.Artifacts {
		u, err := s.Objects.Client().PresignedPutObject(r.Context(), s.Objects.Bucket(), artifacts.PatchKey(sub.patchID, a.Name), s.presignExpiry())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		view.Artifacts = append(view.Artifacts, uploadTarget{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Method: http.MethodPut, URL: u.String()})
	}
	up := store.PatchUpload{ID: sub.patchID, VendorID: adm.vendor.ID, Actor: actorOf(r).Name, Manifest: in.Manifest, Signature: in.Signature, ExpiresAt: expires}
	ev := event(r, "patch.upload_started")
	ev.Details = map[string]any{"patch_ref": adm.manifest.PatchID, "version": adm.manifest.Version, "manifest_sha256": adm.sha256, "expires_at": expires}
	if err := s.Store.CreateUpload(r.Context(), &up, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", view.Complete)
	writeJSON(w, http.StatusCreated, view)
}

// completeUpload claims the upload, runs the admission checks again (a key may have been
// revoked meanwhile), reads every artifact once to check size and SHA-256, and submits the
// patch; anything wrong removes the uploaded objects.
func (s *server) completeUpload(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "uploadID")
	up, err := s.Store.Upload(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && up.VendorID != actorOf(r).VendorID) {
		notFoundProblem(w, r, "upload "+id)
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	sub := &submission{s: s, w: w, r: r, details: map[string]any{"presigned": true}, patchID: id}
	if up.State != store.UploadOpen {
		sub.refuse(http.StatusConflict, fmt.Sprintf("upload %s is %s; start a new upload", id, up.State), nil)
		return
	}
	if s.Store.Now().After(up.ExpiresAt) {
		_ = s.Store.SetUploadState(r.Context(), id, store.UploadOpen, store.UploadExpired, event(r, "patch.upload_expired"))
		s.removeUploaded(r.Context(), id)
		sub.refuse(http.StatusConflict, fmt.Sprintf("upload %s expired at %s; start a new upload", id, up.ExpiresAt.Format(time.RFC3339)), nil)
		return
	}
	if err := s.Store.SetUploadState(r.Context(), id, store.UploadOpen, store.UploadChecking, event(r, "patch.upload_checking")); err != nil {
		sub.refuse(http.StatusConflict, "upload "+id+" is being completed by another request", nil)
		return
	}
	fail := func() {
		_ = s.Store.SetUploadState(context.WithoutCancel(r.Context()), id, store.UploadChecking, store.UploadRefused, event(r, "patch.upload_refused"))
	}
	adm, ok := sub.admit([]byte(up.Manifest), up.Signature, MaxPresignedBytes)
	if !ok {
		fail()
		s.removeUploaded(r.Context(), id)
		return
	}
	var arts []store.PatchArtifact
	for _, a := range adm.manifest.Artifacts {
		key := artifacts.PatchKey(id, a.Name)
		sub.stored = append(sub.stored, key)
		got, err := s.Objects.Hash(r.Context(), key)
		if err != nil {
			fail()
			sub.refuse(http.StatusUnprocessableEntity, fmt.Sprintf("artifact %s was not uploaded (or cannot be read): %v", a.Name, err), nil)
			return
		}
		if got.Size != a.Size || got.SHA256 != a.SHA256 {
			fail()
			sub.refuse(http.StatusUnprocessableEntity, fmt.Sprintf("artifact %s: the uploaded object has %d bytes with SHA-256 %s; the manifest says %d bytes, %s; the upload was removed", a.Name, got.Size, got.SHA256, a.Size, a.SHA256), nil)
			return
		}
		media := a.MediaType
		if media == "" {
			media = "application/octet-stream"
		}
		arts = append(arts, store.PatchArtifact{Name: a.Name, ObjectKey: key, Size: got.Size, SHA256: got.SHA256, MediaType: media})
	}
	if err := s.Store.SetUploadState(r.Context(), id, store.UploadChecking, store.UploadCompleted, event(r, "patch.upload_completed")); err != nil {
		s.fail(w, r, err)
		return
	}
	sub.accept(adm, arts, "")
}

// removeUploaded deletes whatever a presigned upload put under its prefix.
func (s *server) removeUploaded(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	keys, err := s.Objects.List(ctx, artifacts.PatchPrefix(id))
	if err != nil {
		s.Logger.Error("list upload", "upload", id, "err", err)
		return
	}
	for _, k := range keys {
		if err := s.Objects.Remove(ctx, k); err != nil {
			s.Logger.Error("remove upload", "key", k, "err", err)
		}
	}
}

// SweepExpiredUploads removes the objects of presigned uploads that expired unfinished.
func SweepExpiredUploads(ctx context.Context, st *store.Store, objs interface {
	List(context.Context, string) ([]string, error)
	Remove(context.Context, string) error
}) (int, error) {
	ups, err := st.ExpiredUploads(ctx, st.Now())
	if err != nil {
		return 0, err
	}
	for _, u := range ups {
		keys, err := objs.List(ctx, artifacts.PatchPrefix(u.ID))
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			if err := objs.Remove(ctx, k); err != nil {
				return 0, err
			}
		}
		ev := store.Event{Actor: "otpatch", Role: "system", Action: "patch.upload_expired", Details: map[string]any{"objects_removed": len(keys)}}
		if err := st.SetUploadState(ctx, u.ID, store.UploadOpen, store.UploadExpired, ev); err != nil && !errors.Is(err, store.ErrConflict) {
			return 0, err
		}
	}
	return len(ups), nil
}

// uploadOperations are the routes of uploads.go.
func (s *server) uploadOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/patches/uploads", ID: "startPatchUpload", Tag: "Patches", Allow: vendors,
			Summary: "Admit a signed manifest and get presigned PUT URLs for its artifacts",
			Description: "For artifacts too large to stream through the API (up to 64 GiB in all). The manifest passes the checks of POST /api/v1/patches that need no artifact byte " +
				"(vendor, trusted signature, catalogue product, no duplicate, no rollback); then each artifact gets a short-lived presigned URL to PUT it straight to the object store. " +
				"Every refusal is audited.",
			Body: uploadRequest{},
			Answers: []answer{{Status: http.StatusCreated, Body: uploadView{}, Desc: "The upload is open until expires_at",
				Headers: map[string]string{"Location": "Where to complete the upload (POST), the same as complete"}}},
			Handle: s.startUpload},
		{Method: "POST", Path: "/api/v1/patches/uploads/{uploadID}/complete", ID: "completePatchUpload", Tag: "Patches", Allow: vendors,
			Summary: "Check the uploaded artifacts and submit the patch",
			Description: "Runs the admission checks again (a key may have been revoked meanwhile), reads every uploaded artifact once to check its size and SHA-256, and submits the patch; " +
				"it answers as POST /api/v1/patches. Anything wrong removes the uploaded objects (422). An upload that expired, or was completed or refused before, is refused (409): start a new upload.",
			Answers: []answer{created(patchDoc{})}, Handle: s.completeUpload},
	}
}
