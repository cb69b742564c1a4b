package tracing

import "context"

// Flush exports every queued span now (tests only: the gateway relies on
// the batcher and Shutdown).
func (t *Tracer) Flush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }
