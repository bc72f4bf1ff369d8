package notify

import (
	"context"
	"fmt"

	"github.com/otpatch/otpatch/internal/store"
)

// DrillOverdueAction is the audit action that tells a restore drill is overdue; the
// dispatcher sends it as a drill_overdue notification.
const DrillOverdueAction = "drill.overdue"

// PublishDrillOverdue appends the audit event that tells a restore drill is overdue: name is
// the drill, scope what it restores (a product, a zone), daysLate how late it is. The
// restore drills call it when their schedule finds a drill late; call it once per drill and
// due date (key), later calls with the same key are not told again.
func PublishDrillOverdue(ctx context.Context, st *store.Store, drillID, key, name, scope string, daysLate int) error {
	_, err := st.AppendOnce(ctx, "drill-overdue-"+drillID+"-"+key, store.Event{Actor: "otpatch", Role: "system", Action: DrillOverdueAction, SubjectType: "drill", SubjectID: drillID,
		Details: map[string]any{
			"name": name, "scope": scope, "days_late": daysLate,
			"message": fmt.Sprintf("The restore drill %s of %s is %d days overdue: run it on the test bench and record the result.", name, scope, daysLate),
		}})
	return err
}
