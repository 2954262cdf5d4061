package mock

// hashTab is an open-addressing hash table from uint64 keys to V, for the router's hot
// tables (block hash to workers, block hash to requests in flight). Keys are chained block
// hashes, already well mixed, so the slot is the key's top bits; linear probing keeps a
// key and its value in one cache line, where the built-in map touches two (its control
// word, then its slot), and deletion shifts entries back instead of leaving tombstones, so
// heavy insert/delete churn at a steady size never slows lookups. Key 0 is kept aside.
type hashTab[V comparable] struct {
	slots   []slot[V]
	shift   uint // 64 - log2(len(slots))
	n       int
	hasZero bool
	zero    V
}

type slot[V comparable] struct {
	key uint64 // 0: empty
	val V
}

const hashTabMin = 16

func (t *hashTab[V]) len() int {
	if t.hasZero {
		return t.n + 1
	}
	return t.n
}

func (t *hashTab[V]) home(k uint64) uint64 {
	// Fibonacci hashing: spreads keys even when their low bits repeat.
	return (k * 0x9e3779b97f4a7c15) >> t.shift
}

// get returns the value of k and whether k is present.
func (t *hashTab[V]) get(k uint64) (V, bool) {
	if k == 0 {
		return t.zero, t.hasZero
	}
	if t.slots == nil {
		var v V
		return v, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.home(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == k {
			return s.val, true
		}
		if s.key == 0 {
			var v V
			return v, false
		}
	}
}

// ref returns a pointer to k's value, inserting k with the zero value if it is absent. The
// pointer is valid until the next insertion or deletion.
func (t *hashTab[V]) ref(k uint64) *V {
	if k == 0 {
		t.hasZero = true
		return &t.zero
	}
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.home(k); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == k {
			return &s.val
		}
		if s.key == 0 {
			s.key = k
			t.n++
			return &s.val
		}
	}
}

// del removes k, if present.
func (t *hashTab[V]) del(k uint64) {
	if k == 0 {
		var v V
		t.hasZero, t.zero = false, v
		return
	}
	if t.slots == nil {
		return
	}
	mask := uint64(len(t.slots) - 1)
	i := t.home(k)
	for {
		s := &t.slots[i]
		if s.key == 0 {
			return
		}
		if s.key == k {
			break
		}
		i = (i + 1) & mask
	}
	// Backward-shift deletion: move later entries of the run into the hole when their home
	// is not between the hole and them.
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := t.slots[j]
		if s.key == 0 {
			break
		}
		h := t.home(s.key)
		if (j-h)&mask >= (j-i)&mask {
			t.slots[i] = s
			i = j
		}
	}
	var empty slot[V]
	t.slots[i] = empty
	t.n--
}

func (t *hashTab[V]) grow() {
	old := t.slots
	size := max(2*len(old), hashTabMin)
	t.slots = make([]slot[V], size)
	t.shift = 64
	for s := size; s > 1; s >>= 1 {
		t.shift--
	}
	mask := uint64(size - 1)
	for _, s := range old {
		if s.key == 0 {
			continue
		}
		i := t.home(s.key)
		for t.slots[i].key != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}
