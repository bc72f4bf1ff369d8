package domain

// FeedOutcome is what a CSAF feed sync did with one advisory document of the provider.
type FeedOutcome string

// Outcomes of one document in a feed sync.
const (
	// FeedIngested: the document verified and was stored (new, or a newer revision).
	FeedIngested FeedOutcome = "ingested"
	// FeedUnchanged: the document verified and its revision was already stored.
	FeedUnchanged FeedOutcome = "unchanged"
	// FeedRefused: the document was not stored; the reason says why (hash mismatch, bad
	// signature, unknown key, not CSAF, older revision, unreadable).
	FeedRefused FeedOutcome = "refused"
)

// FeedOutcomes lists every FeedOutcome.
func FeedOutcomes() []FeedOutcome { return []FeedOutcome{FeedIngested, FeedUnchanged, FeedRefused} }

// Bounds of a feed's settings.
const (
	// MinFeedInterval and MaxFeedInterval bound how often a feed is polled, in minutes
	// (15 minutes to 7 days); the default is daily.
	MinFeedInterval     = 15
	MaxFeedInterval     = 7 * 24 * 60
	DefaultFeedInterval = 24 * 60
)

// FeedResult is how the last sync of a feed ended.
type FeedResult string

// Results of a feed sync.
const (
	// FeedSyncOK: every document fetched verified.
	FeedSyncOK FeedResult = "ok"
	// FeedSyncRefusals: the sync ran and refused some documents (each with its reason).
	FeedSyncRefusals FeedResult = "refusals"
	// FeedSyncFailed: the provider could not be read or trusted (the error says why);
	// nothing was fetched.
	FeedSyncFailed FeedResult = "failed"
)

// FeedResults lists every FeedResult.
func FeedResults() []FeedResult { return []FeedResult{FeedSyncOK, FeedSyncRefusals, FeedSyncFailed} }
