package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
)

// ClockResult says how many clock-driven notifications a check recorded.
type ClockResult struct {
	Recorded int `json:"recorded"`
}

// CheckClock records the notifications the clock makes due, each once (by its key), as audit
// events the dispatcher then tells: an approved campaign's window opening within the hours of a
// window_opening subscription, a NERC CIP mitigation plan due within 7 days or overdue, and a
// known exploited CVE of an advisory that names assets of the inventory (notify_kev.go).
func (a *Activities) CheckClock(ctx context.Context) (ClockResult, error) {
	now := a.now().UTC()
	var res ClockResult
	record := func(key string, ev store.Event) error {
		first, err := a.Store.AppendOnce(ctx, key, ev)
		if first {
			res.Recorded++
		}
		return err
	}
	subs, err := a.Store.SubscriptionsTo(ctx, string(notify.WindowOpening))
	if err != nil {
		return res, err
	}
	leads := map[int]bool{}
	longest := 0
	for _, s := range subs {
		leads[s.HoursBefore] = true
		longest = max(longest, s.HoursBefore)
	}
	if longest > 0 {
		cs, err := a.Store.CampaignsAwaitingWindow(ctx, now.Add(time.Duration(longest)*time.Hour))
		if err != nil {
			return res, err
		}
		for _, c := range cs {
			start := c.NextWindowStart.UTC()
			if !start.After(now) {
				continue
			}
			for h := range leads {
				if start.Sub(now) > time.Duration(h)*time.Hour {
					continue
				}
				ev := store.Event{Actor: "otpatch", Role: "system", Action: notify.WindowOpeningAction, SubjectType: "campaign", SubjectID: c.ID, CampaignID: c.ID, PatchID: c.PatchID,
					Details: map[string]any{"window_start": start.Format(time.RFC3339), "hours_before": h, "name": c.Name}}
				if err := record(fmt.Sprintf("window-%s-%d-%d", c.ID, start.Unix(), h), ev); err != nil {
					return res, err
				}
			}
		}
	}
	plans, err := a.Store.MitigationPlans(ctx)
	if err != nil {
		return res, err
	}
	today := now.Format(time.DateOnly)
	soon := now.AddDate(0, 0, 7).Format(time.DateOnly)
	for _, p := range plans {
		if p.Status != store.PlanOpen || p.DueOn == "" || p.DueOn > soon {
			continue
		}
		action := notify.NERCDueAction
		if p.DueOn < today {
			action = notify.NERCOverdueAction
		}
		ev := store.Event{Actor: "otpatch", Role: "system", Action: action, SubjectType: "mitigation_plan", SubjectID: p.ID,
			Details: map[string]any{"due_date": p.DueOn, "subject_type": p.SubjectType, "subject_id": p.SubjectID}}
		if err := record(action+"-"+p.ID+"-"+p.DueOn, ev); err != nil {
			return res, err
		}
	}
	return res, a.checkKEV(ctx, record)
}
