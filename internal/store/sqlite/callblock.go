package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// A call block is one call-log batch stored as one row (table call_blocks):
// the records packed into a compact binary form, plus the block's time span
// and the distinct consumers, codes, routes and tenants it holds, so that a
// filtered query skips blocks without decoding them.
//
// Why not one row per call: on the embedded store a row of 21 columns with
// its secondary indexes cost ~8.5 µs of CPU per call (bind, VDBE, four
// B-trees, pure-Go SQLite), about a quarter of the gateway's CPU per
// proxied request and the largest single item of its profile (bench/README
// "Profile"). A block row costs ~0.25 µs per call to store; the request-id
// index (call_ids, kept for GetCall and for skipping a record already
// stored) ~1.2 µs; the packing below ~0.4 µs.
//
// Format (version 1), all integers varints (signed ones zigzag):
//
//	'G' 1                      magic, version
//	uvarint count
//	count × record:
//	  string request_id        raw: unique per call
//	  varint ts                unix µs
//	  ref route, service, tenant, consumer, credential_id, credential_type,
//	      method, path
//	  varint status
//	  ref code, client_ip, user_agent
//	  varint latency, upstream, bytes_in, bytes_out
//	  ref engine
//	  byte flags               1 = trace (JSON, as ref) follows, 2 = ai (JSON, raw) follows
//
// A ref is a string deduplicated within the block: uvarint 0 then a raw
// string defines the next table entry, uvarint k > 0 repeats entry k-1. A raw
// string is uvarint length then bytes. A batch repeats route, service,
// tenant, method, user agent and (in a flood) the trace on most records, so
// a block is small and decoding it allocates each distinct string once.

const (
	blockMagic   = 'G'
	blockVersion = 1
	flagTrace    = 1
	flagAI       = 2
)

// errBlock is a block that does not decode: a damaged database file or a
// block written by a newer binary.
var errBlock = errors.New("sqlite: call block does not decode")

// blockEncoder packs calls; reused across batches by the store's writer
// (one write connection: one InsertCalls at a time).
type blockEncoder struct {
	buf    []byte
	refs   map[string]int
	traces store.TraceEncoder
	// last is, per ref field of a record, the string written last and its
	// table entry: consecutive records of a batch mostly repeat route,
	// service, tenant, method, user agent and engine, and a string compare
	// (equal pointers short-cut it) is cheaper than hashing for the map.
	last [refFields]lastRef
}

// The ref fields of a record, each with its own last-value slot.
const (
	refRoute = iota
	refService
	refTenant
	refConsumer
	refCredentialID
	refCredentialType
	refMethod
	refPath
	refCode
	refClientIP
	refUserAgent
	refEngine
	refTrace
	refFields
)

type lastRef struct {
	s   string
	k   int
	set bool
}

func (e *blockEncoder) reset() {
	e.buf = append(e.buf[:0], blockMagic, blockVersion)
	if e.refs == nil {
		e.refs = make(map[string]int, 64)
	}
	clear(e.refs)
	e.last = [refFields]lastRef{}
	e.traces = store.TraceEncoder{}
}

func (e *blockEncoder) raw(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// ref writes s as field f of a record: a repeat of table entry k as k+1, a
// first occurrence as 0 and the string (which becomes the next entry).
func (e *blockEncoder) ref(f int, s string) {
	l := &e.last[f]
	if l.set && l.s == s {
		e.buf = binary.AppendUvarint(e.buf, uint64(l.k+1))
		return
	}
	k, ok := e.refs[s]
	if ok {
		e.buf = binary.AppendUvarint(e.buf, uint64(k+1))
	} else {
		k = len(e.refs)
		e.refs[s] = k
		e.buf = append(e.buf, 0)
		e.raw(s)
	}
	*l = lastRef{s: s, k: k, set: true}
}

func (e *blockEncoder) int(v int64) { e.buf = binary.AppendVarint(e.buf, v) }

// encode packs calls (the block's records, in order) and returns the
// encoding, valid until the next encode.
func (e *blockEncoder) encode(calls []*domain.Call) ([]byte, error) {
	e.reset()
	e.buf = binary.AppendUvarint(e.buf, uint64(len(calls)))
	for _, c := range calls {
		e.raw(c.RequestID)
		e.int(tm(c.Time))
		e.ref(refRoute, c.RouteID)
		e.ref(refService, c.ServiceID)
		e.ref(refTenant, c.TenantID)
		e.ref(refConsumer, c.ConsumerID)
		e.ref(refCredentialID, c.CredentialID)
		e.ref(refCredentialType, c.CredentialType)
		e.ref(refMethod, c.Method)
		e.ref(refPath, c.Path)
		e.int(int64(c.Status))
		e.ref(refCode, c.Code)
		e.ref(refClientIP, c.ClientIP)
		e.ref(refUserAgent, c.UserAgent)
		e.int(c.LatencyMicros)
		e.int(c.UpstreamMicros)
		e.int(c.BytesIn)
		e.int(c.BytesOut)
		e.ref(refEngine, c.Engine)
		var flags byte
		if c.Trace != nil {
			flags |= flagTrace
		}
		if c.AI != nil {
			flags |= flagAI
		}
		e.buf = append(e.buf, flags)
		if c.Trace != nil {
			t, err := e.traces.Encode(c.Trace, enc)
			if err != nil {
				return nil, err
			}
			e.ref(refTrace, t)
		}
		if c.AI != nil {
			a, err := enc(c.AI)
			if err != nil {
				return nil, err
			}
			e.raw(a)
		}
	}
	return e.buf, nil
}

// blockDecoder reads one block.
type blockDecoder struct {
	b    []byte
	refs []string
	err  error
}

func (d *blockDecoder) fail() {
	if d.err == nil {
		d.err = errBlock
	}
	d.b = nil
}

func (d *blockDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *blockDecoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *blockDecoder) raw() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *blockDecoder) ref() string {
	k := d.uvarint()
	if d.err != nil {
		return ""
	}
	if k == 0 {
		s := d.raw()
		d.refs = append(d.refs, s)
		return s
	}
	if k > uint64(len(d.refs)) {
		d.fail()
		return ""
	}
	return d.refs[k-1]
}

// decodeBlock unpacks a block, appending its records to out; keep, when not
// nil, decides per record (after its request ID and time are read, before
// its trace and AI usage are decoded) whether it is appended.
func decodeBlock(data []byte, out []domain.Call, keep func(*domain.Call) bool) ([]domain.Call, error) {
	if len(data) < 2 || data[0] != blockMagic {
		return out, errBlock
	}
	if data[1] != blockVersion {
		return out, fmt.Errorf("%w: version %d (this binary reads %d)", errBlock, data[1], blockVersion)
	}
	d := blockDecoder{b: data[2:]}
	n := d.uvarint()
	// Each record takes at least 20 bytes: a count beyond that is damage,
	// not a reason to allocate.
	if n > uint64(len(d.b))/20+1 {
		return out, errBlock
	}
	for range n {
		var c domain.Call
		c.RequestID = d.raw()
		c.Time = fromTm(d.int())
		c.RouteID, c.ServiceID, c.TenantID, c.ConsumerID = d.ref(), d.ref(), d.ref(), d.ref()
		c.CredentialID, c.CredentialType, c.Method, c.Path = d.ref(), d.ref(), d.ref(), d.ref()
		c.Status = int(d.int())
		c.Code, c.ClientIP, c.UserAgent = d.ref(), d.ref(), d.ref()
		c.LatencyMicros, c.UpstreamMicros, c.BytesIn, c.BytesOut = d.int(), d.int(), d.int(), d.int()
		c.Engine = d.ref()
		if len(d.b) == 0 {
			d.fail()
		}
		if d.err != nil {
			return out, d.err
		}
		flags := d.b[0]
		d.b = d.b[1:]
		var trace, ai string
		if flags&flagTrace != 0 {
			trace = d.ref()
		}
		if flags&flagAI != 0 {
			ai = d.raw()
		}
		if d.err != nil {
			return out, d.err
		}
		if keep != nil && !keep(&c) {
			continue
		}
		if flags&flagTrace != 0 {
			if err := dec(trace, &c.Trace); err != nil {
				return out, fmt.Errorf("call %q: %w", c.RequestID, err)
			}
		}
		if flags&flagAI != 0 {
			if err := dec(ai, &c.AI); err != nil {
				return out, fmt.Errorf("call %q: %w", c.RequestID, err)
			}
		}
		out = append(out, c)
	}
	if len(d.b) != 0 {
		return out, fmt.Errorf("%w: %d bytes after the last record", errBlock, len(d.b))
	}
	return out, nil
}

// blockSummary is what call_blocks stores beside the packed records.
type blockSummary struct {
	tsMin, tsMax                      int64
	consumers, codes, routes, tenants string
}

// summarize computes calls' summary: the time span and, per filterable
// column, its distinct non-empty values as "\nv1\nv2\n" (a filter for v
// looks for "\nv\n"; an id holding a newline only makes the test match more
// blocks, never fewer, and the decoded records are filtered exactly).
func summarize(calls []*domain.Call) blockSummary {
	var s blockSummary
	var cons, codes, routes, tenants distinct
	for i, c := range calls {
		ts := tm(c.Time)
		if i == 0 || ts < s.tsMin {
			s.tsMin = ts
		}
		if i == 0 || ts > s.tsMax {
			s.tsMax = ts
		}
		cons.add(c.ConsumerID)
		codes.add(c.Code)
		routes.add(c.RouteID)
		tenants.add(c.TenantID)
	}
	s.consumers, s.codes, s.routes, s.tenants = cons.String(), codes.String(), routes.String(), tenants.String()
	return s
}

// distinct collects distinct non-empty strings in first-seen order. A batch
// usually has few distinct values per column, found by a backwards scan
// (runs of equal values are the common case); past distinctScan values a
// set takes over, so a batch of 512 different consumers stays linear.
type distinct struct {
	vals []string
	set  map[string]struct{}
}

const distinctScan = 16

func (d *distinct) add(v string) {
	if v == "" {
		return
	}
	if d.set != nil {
		if _, ok := d.set[v]; ok {
			return
		}
		d.set[v] = struct{}{}
		d.vals = append(d.vals, v)
		return
	}
	for i := len(d.vals) - 1; i >= 0; i-- {
		if d.vals[i] == v {
			return
		}
	}
	d.vals = append(d.vals, v)
	if len(d.vals) > distinctScan {
		d.set = make(map[string]struct{}, 2*len(d.vals))
		for _, x := range d.vals {
			d.set[x] = struct{}{}
		}
	}
}

func (d *distinct) String() string {
	if len(d.vals) == 0 {
		return ""
	}
	var b strings.Builder
	for _, v := range d.vals {
		b.WriteByte('\n')
		b.WriteString(v)
	}
	b.WriteByte('\n')
	return b.String()
}

// member is the summary needle for v.
func member(v string) string { return "\n" + v + "\n" }
