package store

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// A device's output goes into the deployment log whatever bytes it holds: NUL and invalid
// UTF-8 (which PostgreSQL's TEXT refuses) are replaced, and an over-long piece is cut on a
// character boundary. Pieces come back in the order they were recorded.
func TestDeploymentLogKeepsAnyOutput(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		long := strings.Repeat("ü", MaxDeploymentLogText) // two bytes each: the cut falls inside one
		for _, text := range []string{"first\x00line\n", "bad \xff\xfe bytes\n", long} {
			if err := st.AppendDeploymentLog(ctx, "cmp_1", "ast_1", "install stdout", text); err != nil {
				t.Fatalf("append %.20q: %v", text, err)
			}
		}
		got, err := st.DeploymentLog(ctx, "cmp_1", "ast_1", LogCursor{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d pieces, want 3", len(got))
		}
		if got[0].Text != "firstline\n" || got[1].Text != "bad \uFFFD bytes\n" {
			t.Errorf("pieces: %q, %q", got[0].Text, got[1].Text)
		}
		if !utf8.ValidString(got[2].Text) || !strings.HasSuffix(got[2].Text, "[… truncated]") || len(got[2].Text) > MaxDeploymentLogText+32 {
			t.Errorf("long piece: %d bytes, valid UTF-8 %v", len(got[2].Text), utf8.ValidString(got[2].Text))
		}
		if other, _ := st.DeploymentLog(ctx, "cmp_1", "ast_2", LogCursor{}, 10); len(other) != 0 {
			t.Errorf("another asset's log: %+v", other)
		}
		// A page starts after the cursor of the piece before it.
		rest, err := st.DeploymentLog(ctx, "cmp_1", "ast_1", LogCursor{Seq: got[0].Seq, ID: got[0].ID}, 1)
		if err != nil || len(rest) != 1 || rest[0].ID != got[1].ID {
			t.Errorf("the page after the first piece: %+v, %v; want the second piece", rest, err)
		}
	})
}
