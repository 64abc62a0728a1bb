package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The exporter's GC target, unless GOGC is set. Go's 100 on a small heap (a probing exporter,
// a few hundred certificates) and 50 on a large one (100k files, 20k Kubernetes Secrets), as
// the two cost differently: on a small heap a GC cycle is cheap but 50 doubles how often it
// runs (~30 % more CPU per probe, docs/performance.md), on a large one the heap is mostly
// long-lived snapshots and 50 cuts the peak RSS of a 100k cold start from ~240 to ~200 MiB at
// no measurable CPU. Prometheus itself runs with 75. The gap between the two thresholds keeps a
// heap near one of them from switching at every cycle.
const (
	gcPercentSmall = 100
	gcPercentLarge = 50
	gcLargeFrom    = 32 << 20 // live heap bytes from which the large target applies
	gcSmallBelow   = 24 << 20 // and below which the small one is back
)

// gcPercentFor is the target for a live heap of live bytes while current applies.
func gcPercentFor(live uint64, current int) int {
	switch {
	case live >= gcLargeFrom:
		return gcPercentLarge
	case live < gcSmallBelow:
		return gcPercentSmall
	}
	return current
}

// tuneGC sets the GC target unless GOGC is set (an empty GOGC is set: Go reads it as 100), and
// re-judges it after every GC cycle from the live heap that cycle marked. stop ends that.
func tuneGC(lookupEnv func(string) (string, bool)) (stop func()) {
	if _, set := lookupEnv("GOGC"); set {
		return func() {}
	}
	g := &gcTuner{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, percent: gcPercentSmall}
	debug.SetGCPercent(gcPercentSmall)
	g.arm()
	return func() { g.stopped.Store(true) }
}

type gcTuner struct {
	sample  []metrics.Sample // only the cleanup goroutine touches it and percent
	percent int
	stopped atomic.Bool
}

// gcSentinel is garbage as soon as it is made, so its cleanup runs after the next GC cycle.
// 16 bytes: smaller pointer-free objects share a block with others (the tiny allocator) and
// their cleanup may never run.
type gcSentinel [16]byte

func (g *gcTuner) arm() {
	runtime.AddCleanup(new(gcSentinel), (*gcTuner).afterGC, g)
}

func (g *gcTuner) afterGC() {
	if g.stopped.Load() {
		return
	}
	metrics.Read(g.sample)
	if p := gcPercentFor(g.sample[0].Value.Uint64(), g.percent); p != g.percent {
		debug.SetGCPercent(p)
		g.percent = p
	}
	g.arm()
}
