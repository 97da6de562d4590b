package sync

import (
	"context"
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &pacer{now: func() time.Time { return now }}
	ctx := context.Background()
	// Unlimited until the first 429: 100 batches of 20 in one instant.
	for i := 0; i < 100; i++ {
		if err := p.take(ctx, 20); err != nil {
			t.Fatal(err)
		}
	}
	if p.rate != 0 {
		t.Fatalf("rate %v before any throttling", p.rate)
	}
	// A 429: the gate closes for Retry-After, the rate drops to 70% of
	// what was achieved (2,000 writes in the 2 s window = 1,000/s).
	p.hold(5 * time.Second)
	p.hold(time.Second) // same burst: neither shortens the hold nor cuts again
	if want := now.Add(5 * time.Second); !p.until.Equal(want) || p.rate != 700 {
		t.Fatalf("after 429: until %v, rate %v", p.until, p.rate)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.take(cancelled, 20); err == nil {
		t.Fatal("a closed gate let a cancelled run through")
	}
	// Batches without throttling raise the rate by 2% each.
	p.ok()
	if p.rate != 714 {
		t.Fatalf("rate after a good batch: %v", p.rate)
	}
	// Slots are spaced by n/rate once the gate opens.
	now = now.Add(6 * time.Second)
	p.next = time.Time{}
	if err := p.take(ctx, 0); err != nil {
		t.Fatal(err)
	}
	before := p.next
	p.rate = 20
	p.next = now
	if err := p.take(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if got := p.next.Sub(now); got != time.Second {
		t.Fatalf("a batch of 20 at 20 writes/s reserved %v (before %v)", got, before)
	}
}
