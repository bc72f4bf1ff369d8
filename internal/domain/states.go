package domain

// CampaignPaused is the status of a campaign whose next asset waits for an operator's resume.
// Assets already in flight when the pause arrived finish first.
const CampaignPaused CampaignStatus = "paused"

// StateInfo describes one status or state for people: the word to show, its tone (ok, bad,
// warn, busy, wait) and whether it is an end. The API serves these lists so the UI copies none.
type StateInfo struct {
	Value string `json:"value"`
	Label string `json:"label"`
	Tone  string `json:"tone"`
	// Ended is set for a campaign status no transition follows, or an asset state that will not
	// change again within its campaign.
	Ended bool `json:"ended"`
}

// PatchStatusInfo lists the patch statuses in lifecycle order.
func PatchStatusInfo() []StateInfo {
	return []StateInfo{
		{string(PatchSubmitted), "submitted", "wait", false},
		{string(PatchQualifying), "qualifying", "busy", false},
		{string(PatchQualified), "qualified", "ok", true},
		{string(PatchRejected), "rejected", "bad", true},
	}
}

// CampaignStatusInfo lists the campaign statuses in lifecycle order.
func CampaignStatusInfo() []StateInfo {
	out := []StateInfo{
		{string(CampaignDraft), "draft", "wait", false},
		{string(CampaignTesting), "testing on the bench", "busy", false},
		{string(CampaignTestFailed), "test failed", "bad", false},
		{string(CampaignAwaitingApproval), "awaiting approval", "wait", false},
		{string(CampaignApproved), "approved", "ok", false},
		{string(CampaignRejected), "rejected", "bad", false},
		{string(CampaignScheduled), "scheduled", "wait", false},
		{string(CampaignPaused), "paused", "warn", false},
		{string(CampaignDeploying), "deploying", "busy", false},
		{string(CampaignCompleted), "completed", "ok", false},
		{string(CampaignHalted), "halted", "bad", false},
		{string(CampaignRolledBack), "rolled back", "bad", false},
		{string(CampaignAborted), "aborted", "bad", false},
	}
	for i := range out {
		out[i].Ended = CampaignStatus(out[i].Value).Terminal()
	}
	return out
}

// CompatibilityInfo lists the vendor's possible statements on an installed version.
func CompatibilityInfo() []StateInfo {
	return []StateInfo{
		{string(CompatQualified), "qualified by the vendor", "ok", false},
		{string(CompatNotTested), "not tested by the vendor", "warn", false},
		{string(CompatNotStated), "not stated by the vendor", "warn", false},
		{string(CompatNotQualified), "not qualified (vendor)", "bad", false},
	}
}

// AssetStateInfo lists the asset states in lifecycle order.
func AssetStateInfo() []StateInfo {
	words := map[AssetState][2]string{
		AssetPending: {"pending", "wait"}, AssetBackingUp: {"backing up", "busy"}, AssetBackedUp: {"backed up", "busy"},
		AssetDeploying: {"deploying", "busy"}, AssetVerifying: {"verifying", "busy"}, AssetDone: {"patched and verified", "ok"},
		AssetFailed: {"failed", "bad"}, AssetRollingBack: {"rolling back", "warn"}, AssetRolledBack: {"rolled back", "bad"},
		AssetRollbackFailed: {"rollback failed — manual action needed", "bad"}, AssetSkipped: {"skipped — cancelled before it was touched", "wait"},
		AssetDrifted: {"drifted — left as it was", "warn"}, AssetNotStarted: {"not started", "wait"}, AssetAborted: {"restored after abort", "warn"},
		AssetSiteUnreachable: {"site unreachable — no site worker, nothing deployed", "bad"},
	}
	var out []StateInfo
	for _, s := range AssetStates() {
		w := words[s]
		out = append(out, StateInfo{Value: string(s), Label: w[0], Tone: w[1], Ended: s.Final()})
	}
	return out
}
