package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/clock"
)

// scrapeCollector reads the Options funcs when Prometheus scrapes, and
// only then: the numbers belong to the components that own them (call log,
// snapshot holder, upstreams, caches, keyring), and copying them on a timer
// would add a goroutine and a staleness window for nothing.
type scrapeCollector struct {
	o     Options
	clock clock.Clock

	queueDepth, written, dropped, failed *prometheus.Desc
	snapVersion, snapAge                 *prometheus.Desc
	upHealthy, upFailures                *prometheus.Desc
	cacheHits, cacheMisses               *prometheus.Desc
	jwksOK, jwksAge                      *prometheus.Desc
	depUp                                *prometheus.Desc
}

func newScrapeCollector(o Options) *scrapeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &scrapeCollector{
		o:     o,
		clock: o.Clock,

		queueDepth: d("call_log_queue_depth", "Call records accepted and not yet written (queue plus the batch being inserted)."),
		written:    d("call_log_written_total", "Call records committed to the store."),
		dropped:    d("call_log_dropped_total", "Call records refused because the queue was full or the writer closed: loss under overload, counted."),
		failed:     d("call_log_failed_total", "Call records accepted and then lost: the store failed through every retry, refused the record itself (the rest of its batch is stored), or shutdown abandoned them. Loss counted."),

		snapVersion: d("snapshot_version", "Store version of the configuration snapshot the proxy is serving."),
		snapAge:     d("snapshot_age_seconds", "Seconds since the serving snapshot was built."),

		upHealthy:  d("upstream_healthy", "1 when the upstream target is in rotation, 0 while it is ejected.", "service", "target"),
		upFailures: d("upstream_consecutive_failures", "Consecutive failed attempts to the upstream target.", "service", "target"),

		cacheHits:   d("cache_hits_total", "Cache lookups answered from the cache.", "cache"),
		cacheMisses: d("cache_misses_total", "Cache lookups that missed.", "cache"),

		jwksOK:  d("jwks_refresh_ok", "1 when the issuer's last key-set refresh succeeded, 0 when it failed or never succeeded.", "issuer"),
		jwksAge: d("jwks_age_seconds", "Seconds since the issuer's key set was last fetched successfully.", "issuer"),

		depUp: d("dependency_up", "1 while the shared store answers this node (store: PostgreSQL in cluster mode; redis), 0 while it does not: the node then serves from its snapshot or counts limits per node.", "dependency"),
	}
}

// Describe sends only the descriptors whose func is set: a component that
// is not wired exports nothing rather than a misleading zero.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.o.CallLog != nil {
		ch <- c.queueDepth
		ch <- c.written
		ch <- c.dropped
		ch <- c.failed
	}
	if c.o.Snapshot != nil {
		ch <- c.snapVersion
		ch <- c.snapAge
	}
	if c.o.Upstreams != nil {
		ch <- c.upHealthy
		ch <- c.upFailures
	}
	if c.o.Caches != nil {
		ch <- c.cacheHits
		ch <- c.cacheMisses
	}
	if c.o.KeySets != nil {
		ch <- c.jwksOK
		ch <- c.jwksAge
	}
	if c.o.Dependencies != nil {
		ch <- c.depUp
	}
}

// Collect calls each func once. Duplicate label sets (the same target
// listed twice) keep the first: the registry would otherwise fail the
// whole family.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.o.CallLog != nil {
		st := c.o.CallLog()
		ch <- prometheus.MustNewConstMetric(c.queueDepth, prometheus.GaugeValue, float64(st.Queued))
		ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(st.Written))
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped))
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(st.Failed))
	}
	if c.o.Snapshot != nil {
		if version, builtAt := c.o.Snapshot(); !builtAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.snapVersion, prometheus.GaugeValue, float64(version))
			ch <- prometheus.MustNewConstMetric(c.snapAge, prometheus.GaugeValue, c.clock.Now().Sub(builtAt).Seconds())
		}
	}
	if c.o.Upstreams != nil {
		seen := map[[2]string]bool{}
		for _, t := range c.o.Upstreams() {
			service, target := labelValue(t.Service), labelValue(t.Target)
			if k := [2]string{service, target}; !seen[k] {
				seen[k] = true
				ch <- prometheus.MustNewConstMetric(c.upHealthy, prometheus.GaugeValue, boolFloat(t.Healthy), service, target)
				ch <- prometheus.MustNewConstMetric(c.upFailures, prometheus.GaugeValue, float64(t.ConsecutiveFailures), service, target)
			}
		}
	}
	if c.o.Caches != nil {
		seen := map[string]bool{}
		for _, s := range c.o.Caches() {
			name := labelValue(s.Name)
			if !seen[name] {
				seen[name] = true
				ch <- prometheus.MustNewConstMetric(c.cacheHits, prometheus.CounterValue, float64(s.Hits), name)
				ch <- prometheus.MustNewConstMetric(c.cacheMisses, prometheus.CounterValue, float64(s.Misses), name)
			}
		}
	}
	if c.o.KeySets != nil {
		seen := map[string]bool{}
		now := c.clock.Now()
		for _, k := range c.o.KeySets() {
			issuer := labelValue(k.Issuer)
			if seen[issuer] {
				continue
			}
			seen[issuer] = true
			ch <- prometheus.MustNewConstMetric(c.jwksOK, prometheus.GaugeValue, boolFloat(!k.Failing && !k.FetchedAt.IsZero()), issuer)
			if !k.FetchedAt.IsZero() {
				ch <- prometheus.MustNewConstMetric(c.jwksAge, prometheus.GaugeValue, now.Sub(k.FetchedAt).Seconds(), issuer)
			}
		}
	}
	if c.o.Dependencies != nil {
		c.collectDependencies(ch)
	}
}

func (c *scrapeCollector) collectDependencies(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, d := range c.o.Dependencies() {
		if name := labelValue(d.Name); !seen[name] {
			seen[name] = true
			ch <- prometheus.MustNewConstMetric(c.depUp, prometheus.GaugeValue, boolFloat(d.Up), name)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
