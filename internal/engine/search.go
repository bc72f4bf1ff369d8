package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/otpatch/otpatch/workflows"
)

// RegisterSearchAttributes adds otpatch's search attributes (workflows/search.go) to the
// namespace, those it lacks only; it reports the names it added. A name registered with
// another type is an error: the workflows would be refused with it.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	op := c.OperatorService()
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list the search attributes of namespace %s: %w", namespace, err)
	}
	want := workflows.SearchAttributeTypes()
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ, ok := have.GetCustomAttributes()[name]
		if !ok {
			typ, ok = have.GetSystemAttributes()[name]
		}
		switch {
		case !ok:
			missing[name] = want[name]
		case typ != want[name]:
			return nil, fmt.Errorf("namespace %s has the search attribute %s as %s; otpatch needs it as %s", namespace, name, typ, want[name])
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if _, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		return nil, fmt.Errorf("add the search attributes %v to namespace %s: %w", slices.Sorted(maps.Keys(missing)), namespace, err)
	}
	return slices.Sorted(maps.Keys(missing)), nil
}
