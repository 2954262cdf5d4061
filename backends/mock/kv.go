package mock

import "math"

// maxBlocks bounds the number of KV blocks (block ids are int32).
const maxBlocks = math.MaxInt32 - 1

const noBlock = -1

// block is one KV cache block. Blocks with no references sit in the free list, in eviction
// order; a block that holds a full prompt block's hash stays findable in the table until
// it is evicted.
type block struct {
	hash       uint64
	prev, next int32 // free list links
	ref        int32
	cached     bool // hash is valid and the table points at this block
	inFree     bool
}

// kvCache is a paged KV cache with automatic prefix caching, after vLLM's block pool: a
// free list of unreferenced blocks in eviction order (least recently freed first; within a
// request, its last block first, so suffixes go before shared prefixes), and a table from
// chained block hash to block. Blocks are created lazily up to limit, so an unlimited cache
// costs only what it holds.
type kvCache struct {
	limit      int // total blocks
	blocks     []block
	head, tail int32 // free list
	freeLen    int
	table      map[uint64]int32
	caching    bool

	// onEvent, when set, is told every change of the table: a block hash stored (it became
	// findable) or removed (evicted or reset). A cluster's workers publish these to the
	// router, as engines publish KV events to Dynamo's KV router. It runs with the engine
	// lock held and must not block.
	onEvent func(stored bool, hash uint64)
}

func newKVCache(limit int, caching bool, prealloc bool) *kvCache {
	c := &kvCache{limit: limit, head: noBlock, tail: noBlock, caching: caching, table: map[uint64]int32{}}
	if prealloc {
		c.blocks = make([]block, 0, limit)
	}
	return c
}

// available is the number of blocks that can be allocated now (never used or evictable).
func (c *kvCache) available() int { return c.limit - len(c.blocks) + c.freeLen }

// used is the number of referenced blocks.
func (c *kvCache) used() int { return len(c.blocks) - c.freeLen }

func (c *kvCache) unlink(id int32) {
	b := &c.blocks[id]
	if b.prev != noBlock {
		c.blocks[b.prev].next = b.next
	} else {
		c.head = b.next
	}
	if b.next != noBlock {
		c.blocks[b.next].prev = b.prev
	} else {
		c.tail = b.prev
	}
	b.prev, b.next, b.inFree = noBlock, noBlock, false
	c.freeLen--
}

func (c *kvCache) pushTail(id int32) {
	b := &c.blocks[id]
	b.prev, b.next, b.inFree = c.tail, noBlock, true
	if c.tail != noBlock {
		c.blocks[c.tail].next = id
	} else {
		c.head = id
	}
	c.tail = id
	c.freeLen++
}

func (c *kvCache) pushHead(id int32) {
	b := &c.blocks[id]
	b.prev, b.next, b.inFree = noBlock, c.head, true
	if c.head != noBlock {
		c.blocks[c.head].prev = id
	} else {
		c.tail = id
	}
	c.head = id
	c.freeLen++
}

// alloc takes a block: a never-used one first, else the head of the free list (evicting
// its cached hash). The caller has checked available() > 0.
func (c *kvCache) alloc() int32 {
	if len(c.blocks) < c.limit {
		c.blocks = append(c.blocks, block{prev: noBlock, next: noBlock, ref: 1})
		return int32(len(c.blocks) - 1)
	}
	id := c.head
	c.unlink(id)
	b := &c.blocks[id]
	if b.cached {
		delete(c.table, b.hash)
		b.cached = false
		if c.onEvent != nil {
			c.onEvent(false, b.hash)
		}
	}
	b.ref = 1
	return id
}

// lookup finds the block holding a cached prompt block with hash h.
func (c *kvCache) lookup(h uint64) (int32, bool) {
	if !c.caching {
		return noBlock, false
	}
	id, ok := c.table[h]
	return id, ok
}

// acquire adds a reference to a cached block found by lookup.
func (c *kvCache) acquire(id int32) {
	b := &c.blocks[id]
	if b.ref == 0 {
		c.unlink(id)
	}
	b.ref++
}

// register makes a full prompt block findable by its chained hash. If another block already
// holds that hash, the table keeps the first.
func (c *kvCache) register(id int32, h uint64) {
	if !c.caching {
		return
	}
	b := &c.blocks[id]
	if b.cached {
		return
	}
	if _, dup := c.table[h]; dup {
		return
	}
	c.table[h] = id
	b.hash, b.cached = h, true
	if c.onEvent != nil {
		c.onEvent(true, h)
	}
}

// release drops one reference from each block of a sequence, last block first, so that a
// request's suffix blocks are evicted before its prefix. Blocks without a cached hash go to
// the head of the free list: they are worth nothing.
func (c *kvCache) release(ids []int32) {
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		b := &c.blocks[id]
		b.ref--
		if b.ref > 0 {
			continue
		}
		if b.cached {
			c.pushTail(id)
		} else {
			c.pushHead(id)
		}
	}
}

// resetPrefix forgets every cached prompt block that no running sequence holds, as vLLM's
// POST /reset_prefix_cache does, and returns how many it forgot. Blocks in use keep their
// hashes.
func (c *kvCache) resetPrefix() int {
	n := 0
	for h, id := range c.table {
		b := &c.blocks[id]
		if b.ref > 0 {
			continue
		}
		delete(c.table, h)
		b.cached = false
		n++
		if c.onEvent != nil {
			c.onEvent(false, h)
		}
	}
	return n
}
