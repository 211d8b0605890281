package config_test

import (
	"testing"
	"time"

	"github.com/lianmeng/lianmeng/gateway/config"
)

// TestSettlementCutoff: midnight in Asia/Shanghai by default; any HH:MM
// and IANA zone from the file or the environment; anything else refused
// with the key named.
func TestSettlementCutoff(t *testing.T) {
	d := config.Default().Settlement
	off, err := d.CutoffOffset()
	if err != nil || off != 0 || d.TimeZone != "Asia/Shanghai" {
		t.Fatalf("default settlement = %+v (%s, %v)", d, off, err)
	}
	loc, err := d.Location()
	if err != nil {
		t.Fatal(err)
	}
	if _, o := time.Date(2026, 7, 1, 0, 0, 0, 0, loc).Zone(); o != 8*3600 {
		t.Fatalf("Asia/Shanghai is UTC%+d", o/3600)
	}
	cfg, err := config.Load(writeFile(t, "c.yaml", "settlement:\n  time_zone: Europe/Berlin\n  cutoff: \"22:30\"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if off, _ := cfg.Settlement.CutoffOffset(); off != 22*time.Hour+30*time.Minute || cfg.Settlement.TimeZone != "Europe/Berlin" {
		t.Fatalf("from file: %+v", cfg.Settlement)
	}
	cfg, err = config.Load("", []string{"LIANMENG_SETTLEMENT_CUTOFF=23:59", "LIANMENG_SETTLEMENT_TIME_ZONE=UTC"})
	if err != nil {
		t.Fatal(err)
	}
	if off, _ := cfg.Settlement.CutoffOffset(); off != 23*time.Hour+59*time.Minute || cfg.Settlement.TimeZone != "UTC" {
		t.Fatalf("from environment: %+v", cfg.Settlement)
	}
	for _, bad := range []string{"24:00", "7:00", "07:60", "0700", "07:00:00", "-1:00", "ab:cd", ""} {
		loadErr(t, "", []string{"LIANMENG_SETTLEMENT_CUTOFF=" + bad}, "settlement.cutoff", "HH:MM")
	}
	if d := config.Default().Settlement.AutoPayoutMinFen; d != 0 {
		t.Fatalf("automatic payouts on by default (%d)", d)
	}
	if cfg, err := config.Load("", []string{"LIANMENG_SETTLEMENT_AUTO_PAYOUT_MIN_FEN=10000"}); err != nil || cfg.Settlement.AutoPayoutMinFen != 10_000 {
		t.Fatalf("auto_payout_min_fen from the environment: %+v %v", cfg.Settlement, err)
	}
	loadErr(t, "", []string{"LIANMENG_SETTLEMENT_AUTO_PAYOUT_MIN_FEN=-1"}, "settlement.auto_payout_min_fen")
	loadErr(t, "settlement:\n  time_zone: Mars/Olympus\n", nil, "settlement.time_zone", "IANA")
	loadErr(t, "settlement:\n  time_zone: \"\"\n", nil, "settlement.time_zone")
}
