package sync

import (
	"context"
	gosync "sync"
	"time"
)

// pacer spaces a run's batches so that they stay under Microsoft 365's
// write budget instead of bursting into it. Two mechanisms:
//
//   - a gate: a 429 means the budget is spent for every batch, and a
//     throttled request still uses its cost (graph/throttling), so no batch
//     is sent before the Retry-After of the last 429;
//   - a rate, found by additive increase and multiplicative decrease (as
//     TCP finds a link's capacity): unlimited until the first 429, then 70%
//     of the rate achieved when it came, growing by 2% of itself (at least
//     one write per second) with every batch answered without throttling.
//     At most one decrease per second, so that the 429s of one burst count
//     once.
//
// Graph's own pacing header (x-ms-throttle-limit-percentage) is left for
// the next part; this keeps a large export out of retry storms.
type pacer struct {
	mu    gosync.Mutex
	now   func() time.Time
	until time.Time // the gate
	rate  float64   // writes per second; 0 = not limited yet
	next  time.Time // earliest start of the next batch
	cut   time.Time // last decrease
	sent  []stamp   // recent sends, for the achieved rate
}

type stamp struct {
	at time.Time
	n  int
}

// measureWindow is how far back the achieved rate is measured.
const measureWindow = 2 * time.Second

// hold closes the gate for d from now (never shortening a longer hold) and
// lowers the rate.
func (p *pacer) hold(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if t := now.Add(d); t.After(p.until) {
		p.until = t
	}
	if now.Sub(p.cut) < time.Second {
		return
	}
	p.cut = now
	achieved := p.achieved(now)
	switch {
	case p.rate == 0 || achieved < p.rate:
		p.rate = achieved * 0.7
	default:
		p.rate *= 0.7
	}
	p.rate = max(p.rate, 1)
}

// achieved is the write rate of the last measureWindow. Callers hold mu.
func (p *pacer) achieved(now time.Time) float64 {
	n := 0
	keep := p.sent[:0]
	for _, s := range p.sent {
		if now.Sub(s.at) <= measureWindow {
			keep = append(keep, s)
			n += s.n
		}
	}
	p.sent = keep
	return float64(n) / measureWindow.Seconds()
}

// ok notes a batch answered without throttling.
func (p *pacer) ok() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate > 0 {
		p.rate += max(1, p.rate*0.02)
	}
}

// take waits until a batch of n writes may be sent, or ctx ends.
func (p *pacer) take(ctx context.Context, n int) error {
	p.mu.Lock()
	now := p.now()
	at := now
	if p.until.After(at) {
		at = p.until
	}
	if p.rate > 0 {
		if p.next.After(at) {
			at = p.next
		}
		p.next = at.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	}
	p.sent = append(p.sent, stamp{at: at, n: n})
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	// The gate may have closed while waiting for the slot.
	p.mu.Lock()
	d := p.until.Sub(p.now())
	p.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return ctx.Err()
}
