// Package alerts evaluates alert rules (§12) and delivers what fires as
// signed JSON webhooks (internal/webhook), keeping every fired alert in the
// store for GET /admin/v1/alerts.
//
// Rules come from the store (the admin API writes them; SyncDeclared
// writes those declared in gatehouse.yaml, read-only), reloaded when the
// store's version moves. Four kinds:
//
//   - threshold: more than N calls matching a reason (a code, a family
//     prefix such as "jwt.", or every rejection) within a window, per
//     consumer, tenant, route or credential. Evaluated on the stream of
//     call records: Sink(next, engine) wraps the call log's sink like
//     analytics.Sink, so the engine sees every batch the call log
//     committed, on the writer goroutine, never on the request path. Each
//     (rule, subject) has a sliding window of 10 slots (a 1-minute window
//     counts in 6-second slots; the count covers the last 9-10 slots), so
//     memory per subject is fixed (~200 B) and bounded per rule
//     (MaxSubjects; beyond it, subjects whose window is over are evicted
//     and new ones are counted in Stats.Untracked).
//   - rotated_key_used: an API key used during its rotation grace period
//     (the caller has not switched to the successor). The engine looks the
//     key up in the in-memory snapshot (Options.Keys); the call record
//     itself keeps no trace for a successful call.
//   - new_ip: a credential used from a client IP it was not seen from
//     before. The engine keeps, per credential, the last MaxIPs addresses
//     (16), for at most MaxCredentials credentials; a credential's first
//     use sets its baseline without alerting. The sets live in memory: a
//     restart starts new baselines.
//   - key_expiring: a live API key or credential expiring within N days,
//     found by a scan of the store every ScanEvery (1 h), and at once when
//     a key_expiring rule is added or changed.
//
// Cooldown: a rule fires at most once per subject (consumer, route,
// credential…) per cooldown (10 min by default, 24 h for key_expiring),
// timed by the engine's clock. Firings suppressed by the cooldown are
// counted. The cooldown state is in memory and seeded at start from the
// alerts stored within the longest cooldown, so a restart does not repeat
// them.
//
// Delivery: a fired alert goes on a bounded queue; one goroutine stores it
// (InsertAlert) and publishes it (webhook.Sender.Publish: retries with
// backoff, signature, per-URL queues). A full queue drops the alert and
// counts it. In cluster mode every node evaluates its own share of the
// traffic: a threshold counts per node.
package alerts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/calllog"
	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/webhook"
)

// EventType is the webhook event type of every fired alert; the data is
// the domain.Alert (its kind says which rule kind fired).
const EventType = "alert.fired"

// Defaults for zero Options fields.
const (
	DefaultRefreshEvery   = 10 * time.Second
	DefaultScanEvery      = time.Hour
	DefaultRetention      = 90 * 24 * time.Hour
	DefaultMaxSubjects    = 10_000
	DefaultMaxCredentials = 100_000
	DefaultMaxIPs         = 16
	DefaultQueueSize      = 1024
	maxFired              = 100_000
	slots                 = 10
	storeTimeout          = 10 * time.Second
	listPage              = 1000
)

// Options configure an Engine. Store is required.
type Options struct {
	// Store holds the rules and the fired alerts; it must implement
	// store.Analytics.
	Store store.Store
	// Publish delivers a fired alert (webhook.Sender.Publish); nil keeps
	// alerts in the store only.
	Publish func(ctx context.Context, e webhook.Event)
	// RouteService looks up the service a route forwards to, for
	// deprecated_service_used rules: the snapshot
	// (SnapshotRouteService). nil turns those rules off.
	RouteService func(routeID string) (domain.Service, bool)
	// Keys looks an API key up by id, for rotated_key_used rules: the
	// snapshot (SnapshotKeys). nil turns those rules off.
	Keys func(id string) (domain.APIKey, bool)
	// Clock times cooldowns, fired alerts and the expiry horizon.
	Clock  clock.Clock
	Logger *slog.Logger
	// RefreshEvery is how often the store version is checked for rule
	// changes (10 s); call Reload for an immediate refresh.
	RefreshEvery time.Duration
	// ScanEvery is how often key_expiring rules scan the credentials, and
	// fired alerts older than Retention (90 days) are pruned (1 h).
	ScanEvery time.Duration
	Retention time.Duration
	// Memory bounds: subjects counted per threshold rule, credentials and
	// addresses per credential remembered for new_ip, alerts queued for
	// delivery.
	MaxSubjects    int
	MaxCredentials int
	MaxIPs         int
	QueueSize      int
	// NoBackground, for tests: no refresh or scan loop (the delivery
	// goroutine still runs; Flush waits for it).
	NoBackground bool
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RefreshEvery <= 0 {
		o.RefreshEvery = DefaultRefreshEvery
	}
	if o.ScanEvery <= 0 {
		o.ScanEvery = DefaultScanEvery
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxSubjects <= 0 {
		o.MaxSubjects = DefaultMaxSubjects
	}
	if o.MaxCredentials <= 0 {
		o.MaxCredentials = DefaultMaxCredentials
	}
	if o.MaxIPs <= 0 {
		o.MaxIPs = DefaultMaxIPs
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	return o
}

// Stats counts the engine's work, for /admin/v1/status.
type Stats struct {
	Rules      int   `json:"rules"`
	Fired      int64 `json:"fired"`
	Suppressed int64 `json:"suppressed"` // firings within a cooldown
	Dropped    int64 `json:"dropped"`    // fired alerts lost: queue full or engine closed
	StoreFails int64 `json:"store_failures"`
	// Untracked counts threshold subjects not counted because the rule
	// already tracked MaxSubjects live ones.
	Untracked int64     `json:"untracked"`
	LastError string    `json:"last_error,omitempty"`
	LastScan  time.Time `json:"last_scan,omitzero"`
}

// rule is a compiled rule with its per-subject state.
type rule struct {
	r        domain.AlertRule
	cooldown time.Duration
	step     int64 // threshold: slot width, ns
	counts   map[string]*window
}

// window is a sliding count over `slots` slots.
type window struct {
	slot  [slots]int64 // slot number held at each index
	n     [slots]int64
	newst int64 // newest slot seen
}

// add counts one event in slot s and returns the count of the window
// ending at s; an event older than the slots kept is not counted (0).
func (w *window) add(s int64) int64 {
	i := s % slots
	if i < 0 {
		i += slots
	}
	switch {
	case w.slot[i] == s:
		w.n[i]++
	case w.slot[i] < s:
		w.slot[i], w.n[i] = s, 1
	default:
		return 0
	}
	w.newst = max(w.newst, s)
	var sum int64
	for j := range slots {
		if w.slot[j] > s-slots && w.slot[j] <= s {
			sum += w.n[j]
		}
	}
	return sum
}

// fireKey identifies a (rule, subject) for the cooldown: the subject's
// kind (consumer, credential…) and id, kept apart so the hot path never
// builds the "kind id" label.
type fireKey struct{ rule, kind, id string }

// firedAt is the last firing of a (rule, subject).
type firedAt struct {
	at       time.Time
	cooldown time.Duration
}

// ipSet is a credential's recently seen addresses, oldest first.
type ipSet struct{ ips []string }

// queued is one delivery, or a Flush marker (done set).
type queued struct {
	alert domain.Alert
	done  chan struct{}
}

// Engine evaluates the rules. Safe for concurrent use.
type Engine struct {
	st   store.Store
	an   store.Analytics
	opts Options
	log  *slog.Logger

	// reloading serialises Reload from its store read to its publish:
	// two reloads that overlapped (a cluster node's change feed and its
	// admin API, or the refresh loop) would otherwise publish in the order
	// they finished, and the one that read first could put back the rules
	// the other had just replaced.
	reloading sync.Mutex

	mu        sync.Mutex
	threshold []*rule
	rotated   []*rule
	deprecSvc []*rule
	newIP     []*rule
	expiring  []*rule
	fired     map[fireKey]firedAt
	seen      map[string]*ipSet
	version   int64
	active    atomic.Bool // any stream rule: Observe's fast path

	queue    chan queued
	closing  sync.RWMutex // guards sends on queue against its close
	isClosed bool

	fires, suppressed, dropped, storeFails, untracked atomic.Int64
	lastErr                                           atomic.Pointer[string]
	lastScan                                          atomic.Int64

	stop chan struct{}
	// rescan asks the scan loop for a credential scan now: a key_expiring
	// rule was added or changed (else it would first be checked up to
	// ScanEvery later).
	rescan    chan struct{}
	loops     sync.WaitGroup
	delivered chan struct{} // closed when the delivery goroutine exits
	closeOnce sync.Once
}

// New loads the rules, seeds the cooldowns from recent alerts and starts
// the engine. Close stops it.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, errors.New("alerts: no store")
	}
	an, ok := opts.Store.(store.Analytics)
	if !ok {
		return nil, fmt.Errorf("alerts: the %T store does not implement store.Analytics", opts.Store)
	}
	opts = opts.withDefaults()
	e := &Engine{
		st: opts.Store, an: an, opts: opts, log: opts.Logger.With("component", "alerts"),
		fired: map[fireKey]firedAt{}, seen: map[string]*ipSet{},
		queue: make(chan queued, opts.QueueSize), stop: make(chan struct{}), delivered: make(chan struct{}),
		rescan: make(chan struct{}, 1),
	}
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	select { // the scan loop scans at its start anyway
	case <-e.rescan:
	default:
	}
	if err := e.seedCooldowns(ctx); err != nil {
		return nil, err
	}
	go e.deliverLoop()
	if !opts.NoBackground {
		e.loops.Add(2)
		go e.refreshLoop()
		go e.scanLoop()
	}
	return e, nil
}

// Reload reads the rules from the store now; the counters of unchanged
// rules are kept. Reloads run one at a time, so the last to start
// publishes last: what it read is at least as new as any before it.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloading.Lock()
	defer e.reloading.Unlock()
	v, err := e.st.Version(ctx)
	if err != nil {
		return fmt.Errorf("alerts: reload: %w", err)
	}
	rules, err := e.an.ListAlertRules(ctx)
	if err != nil {
		return fmt.Errorf("alerts: reload: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := map[string]*rule{}
	for _, list := range [][]*rule{e.threshold, e.rotated, e.newIP, e.expiring, e.deprecSvc} {
		for _, r := range list {
			old[r.r.ID] = r
		}
	}
	e.threshold, e.rotated, e.newIP, e.expiring, e.deprecSvc = nil, nil, nil, nil, nil
	for _, r := range rules {
		if err := Normalize(&r); err != nil {
			e.log.Error("alerts: stored rule does not validate; skipped", "rule", r.ID, "err", err)
			continue
		}
		c := old[r.ID]
		if c == nil || c.r != r {
			c = &rule{r: r, cooldown: r.Cooldown.D()}
			if r.Kind == domain.AlertKeyExpiring {
				select {
				case e.rescan <- struct{}{}:
				default: // one is asked for already
				}
			}
			if r.Kind == domain.AlertThreshold {
				c.step = max(int64(r.Window.D())/slots, 1)
				c.counts = map[string]*window{}
			}
		}
		switch r.Kind {
		case domain.AlertThreshold:
			e.threshold = append(e.threshold, c)
		case domain.AlertRotatedKeyUsed:
			e.rotated = append(e.rotated, c)
		case domain.AlertDeprecatedServiceUsed:
			e.deprecSvc = append(e.deprecSvc, c)
		case domain.AlertNewIP:
			e.newIP = append(e.newIP, c)
		case domain.AlertKeyExpiring:
			e.expiring = append(e.expiring, c)
		}
	}
	if len(e.newIP) == 0 {
		clear(e.seen) // baselines only mean something while a rule uses them
	}
	e.version = v
	e.active.Store(len(e.threshold)+len(e.rotated)+len(e.newIP)+len(e.deprecSvc) > 0)
	return nil
}

// seedCooldowns marks the (rule, subject) pairs that fired within their
// cooldown before this start.
func (e *Engine) seedCooldowns(ctx context.Context) error {
	e.mu.Lock()
	longest := time.Duration(0)
	for _, list := range [][]*rule{e.threshold, e.rotated, e.newIP, e.expiring, e.deprecSvc} {
		for _, r := range list {
			longest = max(longest, r.cooldown)
		}
	}
	e.mu.Unlock()
	if longest == 0 {
		return nil
	}
	now := e.opts.Clock.Now()
	f := store.AlertFilter{Since: now.Add(-longest), Page: store.Page{Limit: listPage}}
	for range 100 { // at most 100 000 recent alerts
		items, next, err := e.an.ListAlerts(ctx, f)
		if err != nil {
			return fmt.Errorf("alerts: reading recent alerts: %w", err)
		}
		e.mu.Lock()
		for _, a := range items {
			kind, id, _ := strings.Cut(a.Subject, " ")
			k := fireKey{a.RuleID, kind, id}
			if cur, ok := e.fired[k]; !ok || a.FiredAt.After(cur.at) {
				e.fired[k] = firedAt{at: a.FiredAt, cooldown: longest}
			}
		}
		e.mu.Unlock()
		if next == "" {
			break
		}
		f.After = next
	}
	return nil
}

// Sink wraps the call log's sink so the engine observes every batch once
// next has committed it (like analytics.Sink).
func Sink(next calllog.Sink, e *Engine) calllog.Sink { return &sink{next: next, e: e} }

type sink struct {
	next calllog.Sink
	e    *Engine
}

func (s *sink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	if err := s.next.InsertCalls(ctx, calls); err != nil {
		return err
	}
	s.e.Observe(calls)
	return nil
}

// authenticated reports whether c's credential proved itself: no
// rejection, or one after the credential checks (owner status, access,
// limits, upstream). A call rejected by the route, extract or verify
// stages says nothing about where its credential is used from.
func authenticated(c *domain.Call) bool {
	if c.CredentialID == "" || c.ConsumerID == "" {
		return false
	}
	family, _, _ := strings.Cut(c.Code, ".")
	switch family {
	case "auth", "key", "jwt", "token", "identity", "sig", "mtls", "basic", "route", "method":
		return false
	}
	return true
}

func (r *rule) matches(c *domain.Call) bool {
	return (r.r.TenantID == "" || r.r.TenantID == c.TenantID) &&
		(r.r.ConsumerID == "" || r.r.ConsumerID == c.ConsumerID) &&
		(r.r.RouteID == "" || r.r.RouteID == c.RouteID)
}

func (r *rule) matchesReason(c *domain.Call) bool {
	switch rs := r.r.Reason; {
	case rs == "":
		return c.Status >= 400
	case strings.HasSuffix(rs, "."):
		return strings.HasPrefix(c.Code, rs)
	default:
		return c.Code == rs
	}
}

// subject is what a threshold rule counts per.
func (r *rule) subject(c *domain.Call) string {
	switch r.r.By {
	case domain.AlertByTenant:
		return c.TenantID
	case domain.AlertByRoute:
		return c.RouteID
	case domain.AlertByCredential:
		return c.CredentialID
	}
	return c.ConsumerID
}

// Observe evaluates the stream rules on a batch of call records.
func (e *Engine) Observe(calls []domain.Call) {
	if !e.active.Load() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range calls {
		c := &calls[i]
		for _, r := range e.threshold {
			if r.matches(c) && r.matchesReason(c) {
				e.countThreshold(r, c)
			}
		}
		if len(e.rotated) > 0 && e.opts.Keys != nil && c.CredentialType == domain.AuthAPIKey && authenticated(c) {
			e.checkRotated(c)
		}
		if len(e.deprecSvc) > 0 && e.opts.RouteService != nil && c.RouteID != "" && c.ConsumerID != "" && c.Status < 400 {
			e.checkDeprecated(c)
		}
		if len(e.newIP) > 0 && c.ClientIP != "" && authenticated(c) && e.isNewIP(c.CredentialID, c.ClientIP) {
			for _, r := range e.newIP {
				if !r.matches(c) {
					continue
				}
				e.fire(r, domain.AlertByCredential, c.CredentialID, func(a *domain.Alert) {
					a.TenantID, a.ConsumerID, a.CredentialID, a.RouteID, a.ClientIP = c.TenantID, c.ConsumerID, c.CredentialID, c.RouteID, c.ClientIP
					a.Message = fmt.Sprintf("credential %s of consumer %s was used from %s, an address it was not seen from before", c.CredentialID, c.ConsumerID, c.ClientIP)
				})
			}
		}
	}
}

func (e *Engine) countThreshold(r *rule, c *domain.Call) {
	id := r.subject(c)
	if id == "" {
		return
	}
	s := c.Time.UnixNano() / r.step
	w := r.counts[id]
	if w == nil {
		if len(r.counts) >= e.opts.MaxSubjects {
			for k, old := range r.counts {
				if old.newst <= s-slots {
					delete(r.counts, k)
				}
			}
			if len(r.counts) >= e.opts.MaxSubjects {
				e.untracked.Add(1)
				return
			}
		}
		w = &window{}
		r.counts[id] = w
	}
	n := w.add(s)
	if n <= r.r.Threshold {
		return
	}
	e.fire(r, r.r.By, id, func(a *domain.Alert) {
		a.Reason, a.Count, a.Threshold, a.Window = r.r.Reason, n, r.r.Threshold, r.r.Window
		a.ConsumerID, a.RouteID = c.ConsumerID, c.RouteID
		if r.r.By == domain.AlertByCredential {
			a.CredentialID = c.CredentialID
		}
		switch {
		case r.r.TenantID != "":
			a.TenantID = r.r.TenantID
		case r.r.By != domain.AlertByRoute:
			a.TenantID = c.TenantID
		}
		switch reason := r.r.Reason; {
		case reason == "":
			a.Message = fmt.Sprintf("%d rejected calls within %s for %s (threshold %d)", n, r.r.Window.D(), a.Subject, r.r.Threshold)
		case strings.HasSuffix(reason, "."):
			// A family: the message names the code that crossed the line,
			// so the reader knows which of the family it is about.
			a.Message = fmt.Sprintf("%d calls rejected with a %s* code within %s for %s (threshold %d; the last: %s)",
				n, reason, r.r.Window.D(), a.Subject, r.r.Threshold, c.Code)
		default:
			a.Message = fmt.Sprintf("%d %s calls within %s for %s (threshold %d)", n, reason, r.r.Window.D(), a.Subject, r.r.Threshold)
		}
	})
}

func (e *Engine) checkRotated(c *domain.Call) {
	k, ok := e.opts.Keys(c.CredentialID)
	if !ok || k.Successor == "" || k.GraceUntil == nil || !c.Time.Before(*k.GraceUntil) {
		return
	}
	for _, r := range e.rotated {
		if !r.matches(c) {
			continue
		}
		e.fire(r, domain.AlertByCredential, k.ID, func(a *domain.Alert) {
			grace := *k.GraceUntil
			a.TenantID, a.ConsumerID, a.CredentialID, a.RouteID, a.Successor, a.GraceUntil = c.TenantID, c.ConsumerID, k.ID, c.RouteID, k.Successor, &grace
			a.Message = fmt.Sprintf("rotated key %s of consumer %s is still in use; its grace period ends %s: switch the caller to successor %s",
				k.ID, c.ConsumerID, grace.UTC().Format(time.RFC3339), k.Successor)
		})
	}
}

// checkDeprecated fires deprecated_service_used rules for a call a
// deprecated service answered: subject the consumer and service, so each
// consumer still calling is told apart, once per cooldown.
func (e *Engine) checkDeprecated(c *domain.Call) {
	svc, ok := e.opts.RouteService(c.RouteID)
	if !ok || svc.Lifecycle != domain.LifecycleDeprecated {
		return
	}
	for _, r := range e.deprecSvc {
		if !r.matches(c) {
			continue
		}
		e.fire(r, "consumer-service", c.ConsumerID+" "+svc.ID, func(a *domain.Alert) {
			a.TenantID, a.ConsumerID, a.RouteID, a.ServiceID, a.Successor = c.TenantID, c.ConsumerID, c.RouteID, svc.ID, svc.Successor
			a.Subject = "consumer " + c.ConsumerID + " on service " + svc.ID
			sunset := "no sunset set"
			if svc.Sunset != nil {
				t := *svc.Sunset
				a.Sunset = &t
				sunset = "its sunset is " + t.UTC().Format(time.RFC3339)
			}
			a.Message = fmt.Sprintf("consumer %s still calls deprecated service %s (%s)", c.ConsumerID, svc.Name, sunset)
			if svc.Successor != "" {
				a.Message += ": move it to successor " + svc.Successor
			}
		})
	}
}

// isNewIP records ip for a credential and reports whether the credential
// had been seen before from other addresses only.
func (e *Engine) isNewIP(cred, ip string) bool {
	set := e.seen[cred]
	if set == nil {
		if len(e.seen) >= e.opts.MaxCredentials {
			for k := range e.seen { // evict an arbitrary one: map order is random
				delete(e.seen, k)
				break
			}
		}
		e.seen[cred] = &ipSet{ips: append(make([]string, 0, 2), ip)}
		return false // the first use is the baseline
	}
	for i, s := range set.ips {
		if s == ip {
			// Most recent last, so the oldest is evicted first.
			copy(set.ips[i:], set.ips[i+1:])
			set.ips[len(set.ips)-1] = ip
			return false
		}
	}
	if len(set.ips) >= e.opts.MaxIPs {
		copy(set.ips, set.ips[1:])
		set.ips = set.ips[:len(set.ips)-1]
	}
	set.ips = append(set.ips, ip)
	return true
}

// fire records a firing unless the cooldown of (rule, kind id) is
// running; fill completes the alert (its Subject is "kind id"). Called
// with e.mu held.
func (e *Engine) fire(r *rule, kind, id string, fill func(a *domain.Alert)) {
	now := e.opts.Clock.Now().UTC()
	k := fireKey{r.r.ID, kind, id}
	if last, ok := e.fired[k]; ok && now.Sub(last.at) < r.cooldown {
		e.suppressed.Add(1)
		return
	}
	if len(e.fired) >= maxFired {
		for key, f := range e.fired {
			if now.Sub(f.at) >= f.cooldown {
				delete(e.fired, key)
			}
		}
	}
	e.fired[k] = firedAt{at: now, cooldown: r.cooldown}
	evt, err := eventID()
	if err != nil {
		e.setError(err)
		e.dropped.Add(1)
		return
	}
	a := domain.Alert{ID: evt, RuleID: r.r.ID, RuleName: r.r.Name, Kind: r.r.Kind, Subject: kind + " " + id, FiredAt: now.Truncate(time.Microsecond)}
	fill(&a)
	e.fires.Add(1)
	e.enqueue(a)
}

func (e *Engine) enqueue(a domain.Alert) {
	e.closing.RLock()
	defer e.closing.RUnlock()
	if e.isClosed {
		e.dropped.Add(1)
		return
	}
	select {
	case e.queue <- queued{alert: a}:
	default:
		e.dropped.Add(1)
		e.log.Warn("alerts: delivery queue full; alert dropped", "rule", a.RuleID, "subject", a.Subject, "queue_size", e.opts.QueueSize)
	}
}

// deliverLoop stores and publishes fired alerts in order.
func (e *Engine) deliverLoop() {
	defer close(e.delivered)
	for q := range e.queue {
		if q.done != nil {
			close(q.done)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		if err := e.an.InsertAlert(ctx, q.alert); err != nil {
			e.storeFails.Add(1)
			e.setError(err)
			e.log.Error("alerts: storing a fired alert failed (it is still delivered)", "alert", q.alert.ID, "rule", q.alert.RuleID, "err", err)
		}
		cancel()
		e.log.Info("alert fired", "alert", q.alert.ID, "rule", q.alert.RuleID, "kind", q.alert.Kind, "subject", q.alert.Subject)
		if e.opts.Publish != nil {
			e.opts.Publish(context.Background(), webhook.Event{ID: q.alert.ID, Type: EventType, Time: q.alert.FiredAt, Data: q.alert})
		}
	}
}

// Flush waits until every alert fired before the call is stored and handed
// to Publish.
func (e *Engine) Flush(ctx context.Context) error {
	done := make(chan struct{})
	e.closing.RLock()
	if e.isClosed {
		e.closing.RUnlock()
		return errors.New("alerts: engine closed")
	}
	select {
	case e.queue <- queued{done: done}:
	case <-ctx.Done():
		e.closing.RUnlock()
		return fmt.Errorf("alerts: flush: %w", ctx.Err())
	}
	e.closing.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("alerts: flush: %w", ctx.Err())
	}
}

// ScanCredentials runs the key_expiring rules now: every live API key and
// credential expiring within a rule's horizon fires it (once per cooldown).
func (e *Engine) ScanCredentials(ctx context.Context) error {
	e.mu.Lock()
	rules := append([]*rule(nil), e.expiring...)
	e.mu.Unlock()
	if len(rules) == 0 {
		return nil
	}
	now := e.opts.Clock.Now()
	tenants := map[string]string{} // consumer → tenant
	if err := each(ctx, e.st.ListConsumers, func(c domain.Consumer) { tenants[c.ID] = c.TenantID }); err != nil {
		return fmt.Errorf("alerts: scan consumers: %w", err)
	}
	type candidate struct {
		id, consumer, what string
		expires            time.Time
	}
	var found []candidate
	live := func(revoked, expires *time.Time) bool {
		return revoked == nil && expires != nil && expires.After(now)
	}
	if err := each(ctx, e.st.ListKeys, func(k domain.APIKey) {
		// A rotated key stops at the end of its grace: its successor is
		// the one to watch.
		if live(k.RevokedAt, k.ExpiresAt) && k.Successor == "" {
			found = append(found, candidate{k.ID, k.ConsumerID, "API key", *k.ExpiresAt})
		}
	}); err != nil {
		return fmt.Errorf("alerts: scan keys: %w", err)
	}
	if err := each(ctx, e.st.ListCredentials, func(c domain.Credential) {
		if live(c.RevokedAt, c.ExpiresAt) {
			found = append(found, candidate{c.ID, c.ConsumerID, c.Type + " credential", *c.ExpiresAt})
		}
	}); err != nil {
		return fmt.Errorf("alerts: scan credentials: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rules {
		for _, f := range found {
			tenant := tenants[f.consumer]
			if f.expires.Sub(now) > r.r.Within.D() || (r.r.TenantID != "" && r.r.TenantID != tenant) ||
				(r.r.ConsumerID != "" && r.r.ConsumerID != f.consumer) {
				continue
			}
			e.fire(r, domain.AlertByCredential, f.id, func(a *domain.Alert) {
				exp := f.expires
				a.TenantID, a.ConsumerID, a.CredentialID, a.ExpiresAt = tenant, f.consumer, f.id, &exp
				a.Message = fmt.Sprintf("%s %s of consumer %s expires %s (in %s)", f.what, f.id, f.consumer,
					exp.UTC().Format(time.RFC3339), exp.Sub(now).Round(time.Minute))
			})
		}
	}
	e.lastScan.Store(now.UnixNano())
	return nil
}

// each pages through a store list.
func each[T any](ctx context.Context, list func(context.Context, store.ListFilter) ([]T, string, error), fn func(T)) error {
	f := store.ListFilter{Page: store.Page{Limit: listPage}}
	for {
		items, next, err := list(ctx, f)
		if err != nil {
			return err
		}
		for _, it := range items {
			fn(it)
		}
		if next == "" {
			return nil
		}
		f.After = next
	}
}

// Prune deletes fired alerts older than Retention.
func (e *Engine) Prune(ctx context.Context) (int64, error) {
	n, err := e.an.DeleteAlertsBefore(ctx, e.opts.Clock.Now().Add(-e.opts.Retention))
	if err != nil {
		return n, fmt.Errorf("alerts: retention: %w", err)
	}
	return n, nil
}

func (e *Engine) refreshLoop() {
	defer e.loops.Done()
	t := time.NewTicker(e.opts.RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			v, err := e.st.Version(ctx)
			e.mu.Lock()
			changed := err == nil && v != e.version
			e.mu.Unlock()
			if changed {
				err = e.Reload(ctx)
			}
			cancel()
			if err != nil {
				e.setError(err)
				e.log.Warn("alerts: rule refresh failed", "err", err)
			}
		case <-e.stop:
			return
		}
	}
}

func (e *Engine) scanLoop() {
	defer e.loops.Done()
	t := time.NewTicker(e.opts.ScanEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.ScanEvery)
		if err := e.ScanCredentials(ctx); err != nil {
			e.setError(err)
			e.log.Error("alerts: credential scan failed", "err", err)
		}
		if _, err := e.Prune(ctx); err != nil {
			e.setError(err)
			e.log.Error("alerts: retention failed", "err", err)
		}
		cancel()
		select {
		case <-t.C:
		case <-e.rescan:
		case <-e.stop:
			return
		}
	}
}

func (e *Engine) setError(err error) {
	msg := err.Error()
	e.lastErr.Store(&msg)
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	n := len(e.threshold) + len(e.rotated) + len(e.newIP) + len(e.expiring) + len(e.deprecSvc)
	e.mu.Unlock()
	s := Stats{Rules: n, Fired: e.fires.Load(), Suppressed: e.suppressed.Load(), Dropped: e.dropped.Load(),
		StoreFails: e.storeFails.Load(), Untracked: e.untracked.Load()}
	if p := e.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	if ns := e.lastScan.Load(); ns != 0 {
		s.LastScan = time.Unix(0, ns).UTC()
	}
	return s
}

// Close stops the loops, delivers what is queued (until ctx ends) and
// stops. Alerts fired afterwards are dropped and counted. Idempotent.
func (e *Engine) Close(ctx context.Context) error {
	var err error
	e.closeOnce.Do(func() {
		close(e.stop)
		e.loops.Wait()
		e.closing.Lock()
		e.isClosed = true
		close(e.queue)
		e.closing.Unlock()
		select {
		case <-e.delivered:
		case <-ctx.Done():
			err = fmt.Errorf("alerts: close: %d alerts not delivered: %w", len(e.queue), ctx.Err())
		}
	})
	return err
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// eventID returns "evt_" and 16 random base62 characters, like the admin
// API's event ids.
func eventID() (string, error) {
	out := make([]byte, 0, 20)
	out = append(out, "evt_"...)
	buf := make([]byte, 32)
	for len(out) < 20 {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("alerts: random: %w", err)
		}
		for _, b := range buf {
			if b < 248 && len(out) < 20 {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}
