package mock

import "math/bits"

// MaxWorkers bounds the workers of a cluster: the router's index keeps the workers that
// cache a block as one bit each of a 64-bit mask.
const MaxWorkers = 64

// kvIndex is the router's view of the workers' prefix caches, built only from the KV events
// the workers publish (a block hash stored, a block hash removed), as Dynamo's KvIndexer is:
// for every chained block hash, the set of workers whose cache holds it. Because a block's
// hash is chained over its parent's, one flat table answers prefix queries: a worker holds
// the first k blocks of a prompt when it holds each of their hashes.
type kvIndex struct {
	workers hashTab[uint64] // block hash -> bit mask of workers holding it
	stored  int64           // events applied
	removed int64
}

func newKVIndex() *kvIndex { return &kvIndex{} }

// apply records one event of worker w.
func (x *kvIndex) apply(w int, stored bool, h uint64) {
	bit := uint64(1) << uint(w)
	if stored {
		*x.workers.ref(h) |= bit
		x.stored++
		return
	}
	x.removed++
	m, ok := x.workers.get(h)
	if !ok {
		return
	}
	if m &^= bit; m == 0 {
		x.workers.del(h)
	} else {
		*x.workers.ref(h) = m
	}
}

// overlaps sets dst[w] to the number of leading blocks of hashes that worker w holds, for
// every w < len(dst), and returns the largest.
func (x *kvIndex) overlaps(hashes []uint64, dst []int) int {
	clear(dst)
	all := uint64(1)<<uint(len(dst)) - 1
	if len(dst) == MaxWorkers {
		all = ^uint64(0)
	}
	alive := all
	depth := 0
	for _, h := range hashes {
		m, _ := x.workers.get(h)
		m &= alive
		if m == 0 {
			break
		}
		alive = m
		depth++
		for ; m != 0; m &= m - 1 {
			dst[bits.TrailingZeros64(m)] = depth
		}
	}
	return depth
}

// size is the number of distinct block hashes some worker holds.
func (x *kvIndex) size() int { return x.workers.len() }
