package simulator

import "testing"

// TestDrawIsDeterministicBySeed draws faults for many assets: the same seed draws the same
// faults, another seed draws others, and the share of faulty assets follows the rate.
func TestDrawIsDeterministicBySeed(t *testing.T) {
	rates := FaultRates{VerifyFail: 0.25, RestoreFail: 0.1}
	ids := make([]string, 400)
	for i := range ids {
		ids[i] = "ast_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	diff, verify := 0, 0
	for _, id := range ids {
		a, b := Draw(42, id, rates), Draw(42, id, rates)
		if a != b {
			t.Fatalf("%s: seed 42 drew %+v then %+v", id, a, b)
		}
		if a != Draw(43, id, rates) {
			diff++
		}
		if a.DeployFail || a.Hang || a.BackupCorrupt {
			t.Errorf("%s drew %+v, a fault whose rate is 0", id, a)
		}
		if a.VerifyFail {
			verify++
		}
	}
	if diff == 0 {
		t.Error("seeds 42 and 43 drew the same faults for every asset")
	}
	if verify < 60 || verify > 140 {
		t.Errorf("%d of %d assets drew verify_fail at rate 0.25", verify, len(ids))
	}
	if got := Draw(42, "x", FaultRates{VerifyFail: 1, RestoreFail: 1}); !got.VerifyFail || !got.RestoreFail {
		t.Errorf("rate 1 drew %+v", got)
	}
}
