package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpatch/otpatch/internal/domain"
)

// Every collection answers one page at a time: ?limit items (default defaultPageLimit, at most
// maxPageLimit) after the ?after cursor, and next, the cursor of the following page, unless
// this was the last. A cursor is opaque to clients: the encoded sort key of the page's last
// item, so a page stays right while items are added or removed before it.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// page is one page of a collection. Next in the document: the cursor of the following page.
type page[T any] struct {
	Items []T `json:"items"`
	// Next is the cursor of the following page (?after=); absent on the last page.
	Next string `json:"next,omitempty"`
}

// pageRequest is what a client asked for: how many items after which key.
type pageRequest struct {
	Limit int
	After string // the decoded sort key; "" for the first page
}

// readPage reads ?limit and ?after, adding what is wrong with them to v (a 422 naming the
// parameter once the handler has read its other parameters too).
func readPage(r *http.Request, v *domain.ValidationError) pageRequest {
	q := r.URL.Query()
	pr := pageRequest{Limit: defaultPageLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageLimit {
			v.Add("limit", "must be a whole number from 1 to %d", maxPageLimit)
		} else {
			pr.Limit = n
		}
	}
	if s := q.Get("after"); s != "" {
		key, ok := decodeCursor(s)
		if !ok {
			v.Add("after", "is not a cursor this server gave; pass the next of the previous page as it was, or leave after out for the first page")
		} else {
			pr.After = key
		}
	}
	return pr
}

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("k1:" + key))
}

func decodeCursor(s string) (string, bool) {
	if len(s) > 512 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	key, ok := strings.CutPrefix(string(b), "k1:")
	return key, ok && key != ""
}

// cursorKey joins the parts of a sort key (a sort value and the id that breaks ties).
func cursorKey(parts ...string) string { return strings.Join(parts, "\x00") }

// splitCursor splits a key made by cursorKey into n parts; ok is false when it has another
// number of parts.
func splitCursor(key string, n int) ([]string, bool) {
	parts := strings.Split(key, "\x00")
	return parts, len(parts) == n
}

// pageOf pages a collection already in memory, sorted ascending by key (unique per item).
func pageOf[T any](items []T, key func(T) string, pr pageRequest) page[T] {
	out := page[T]{Items: make([]T, 0, min(pr.Limit, len(items)))}
	for _, it := range items {
		k := key(it)
		if pr.After != "" && k <= pr.After {
			continue
		}
		if len(out.Items) == pr.Limit {
			out.Next = encodeCursor(key(out.Items[len(out.Items)-1]))
			break
		}
		out.Items = append(out.Items, it)
	}
	return out
}

// pageFrom makes a page of items read with one more than the limit: when the extra item is
// there, the page ends before it and next points after the last item kept.
func pageFrom[T any](items []T, key func(T) string, limit int) page[T] {
	if items == nil {
		items = []T{}
	}
	if len(items) <= limit {
		return page[T]{Items: items}
	}
	items = items[:limit]
	return page[T]{Items: items, Next: encodeCursor(key(items[len(items)-1]))}
}

// sortableTime writes a time so that its text sorts as the time does.
func sortableTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// locateCreated sets the Location of a created resource from its path segments.
func locateCreated(w http.ResponseWriter, segments ...string) {
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	w.Header().Set("Location", "/api/v1/"+strings.Join(segments, "/"))
}
