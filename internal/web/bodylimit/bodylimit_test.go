package bodylimit

import (
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	p := Policy{Base: 5 * time.Second, MinRate: 64 << 10, MaxWait: time.Minute}
	for _, tc := range []struct {
		n    int64
		want time.Duration
	}{
		{-1, 5 * time.Second},
		{0, 5 * time.Second},
		{32 << 10, 5*time.Second + 500*time.Millisecond},
		{1 << 20, 21 * time.Second},
		{64 << 20, time.Minute}, // capped
		{1 << 62, time.Minute},  // no overflow
	} {
		if got := p.Wait(tc.n); got != tc.want {
			t.Errorf("Wait(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
	// The zero policy takes the documented defaults.
	if got, want := (Policy{}).Wait(DefaultMaxBytes), DefaultBase+4*time.Second; got != want {
		t.Errorf("default Wait(256 KiB) = %s, want %s", got, want)
	}
}
