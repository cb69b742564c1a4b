// Package changefeed tells every gateway node of a cluster that the store
// changed (§10: a change on any node reaches every node's snapshot within
// 100 ms p99), and runs the node loop that reloads the snapshot when it
// did, with a periodic check and full resync as the safety net.
//
// The feed is PostgreSQL LISTEN/NOTIFY, not Redis pub/sub:
//
//   - the notification is part of the change: postgres.Store.Update runs
//     pg_notify(channel, version) in the transaction that bumps the
//     version, and PostgreSQL delivers it only when that transaction
//     commits, in commit order, and never for one that rolled back. A
//     Redis PUBLISH after COMMIT has a gap: a node that crashes between
//     the two commits a change nobody hears of (until the next resync),
//     and a publish before commit announces a change that may never be;
//   - revocation keeps working when Redis is down (Redis only holds
//     counters, §10), and the database that holds the truth is the only
//     dependency of propagation;
//   - the payload is the committed version, so a node knows whether its
//     snapshot is already current (the node that made the change reloaded
//     before answering the admin call) and never loads twice for one change.
//
// The costs, accepted: each node holds one dedicated connection (LISTEN
// needs a session, so it must reach PostgreSQL directly or through a
// session-mode pooler, not a transaction-mode PgBouncer), and PostgreSQL
// serializes the commits of notifying transactions, which admin writes
// are anyway (they serialize on the version row).
//
// Notifications are lost while a node is disconnected. The Listener
// therefore emits the current version after every (re)connection, once
// LISTEN is in place (so nothing committed after the read can be missed
// either), and the Follower compares the store's version with the applied
// one every CheckEvery and reloads everything every ResyncEvery.
package changefeed

import "context"

// Feed announces store versions. Subscribe returns a channel that receives
// the version after every committed change and after every reconnection;
// it holds only the latest undelivered version (a slow reader skips
// intermediate ones, never the newest) and is closed when ctx ends.
type Feed interface {
	Subscribe(ctx context.Context) (<-chan int64, error)
}

// offer puts v into a one-slot channel, replacing an undelivered older
// value so the reader always gets the newest. Only one goroutine sends.
func offer(ch chan int64, v int64) {
	select {
	case ch <- v:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	ch <- v
}
