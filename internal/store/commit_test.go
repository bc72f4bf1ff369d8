package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"gorm.io/gorm"
)

// TestGroupedWritesFailAlone sends many concurrent changes, every third of which fails: the
// committer groups them into shared transactions, yet each failing change leaves neither its
// row nor its event, each successful one has both, and the chain verifies.
func TestGroupedWritesFailAlone(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		st := newStore(t, dsn)
		ctx := context.Background()
		before := auditCount(t, st)
		const n = 60
		errBoom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				site := Site{ID: fmt.Sprintf("site_g%02d", i), Name: fmt.Sprintf("grouped site %02d", i), CreatedAt: st.Now()}
				errs[i] = st.Write(ctx, Event{Actor: "t", Role: "engineer", Action: "site.created", SubjectType: "site", SubjectID: site.ID}, func(tx *gorm.DB) error {
					if err := tx.Create(&site).Error; err != nil {
						return err
					}
					if i%3 == 0 {
						return errBoom // after a statement: the savepoint must undo the insert
					}
					return nil
				})
			}()
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			var count int64
			st.DB().Model(&Site{}).Where("id = ?", fmt.Sprintf("site_g%02d", i)).Count(&count)
			if i%3 == 0 {
				if !errors.Is(err, errBoom) || count != 0 {
					t.Errorf("change %d: err %v, %d rows; want boom and no row", i, err, count)
				}
				continue
			}
			ok++
			if err != nil || count != 1 {
				t.Errorf("change %d: err %v, %d rows; want success and one row", i, err, count)
			}
		}
		if got := auditCount(t, st) - before; got != int64(ok) {
			t.Errorf("%d events appended for %d successful changes", got, ok)
		}
		res, err := st.VerifyAudit(ctx)
		if err != nil || !res.OK {
			t.Errorf("chain after grouped writes: %+v %v", res, err)
		}
	})
}
