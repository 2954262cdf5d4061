package mock

import (
	"math/rand/v2"
	"testing"
)

// The table behaves as a map under random inserts, updates and deletes, with keys that
// collide in their home slots and the key 0.
func TestHashTabMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab hashTab[int32]
	ref := map[uint64]int32{}
	keys := []uint64{0}
	for i := range 200 {
		keys = append(keys, rng.Uint64(), uint64(i)<<58) // the second kind share low bits
	}
	for op := range 200000 {
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(3) {
		case 0, 1:
			*tab.ref(k) += int32(op % 7)
			ref[k] += int32(op % 7)
		case 2:
			tab.del(k)
			delete(ref, k)
		}
		if op%1000 == 0 {
			if tab.len() != len(ref) {
				t.Fatalf("op %d: len %d, map %d", op, tab.len(), len(ref))
			}
			for _, k := range keys {
				v, ok := tab.get(k)
				w, wok := ref[k]
				if v != w || ok != wok {
					t.Fatalf("op %d: key %#x: %d %v, map %d %v", op, k, v, ok, w, wok)
				}
			}
		}
	}
}

// benchChurn deletes one key and inserts another at a steady size, as the router's index
// does when workers store and evict blocks, with a lookup of a missing key each time.
func benchChurn(b *testing.B, live int, useMap bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]uint64, live)
	m := map[uint64]uint64{}
	var tab hashTab[uint64]
	for i := range keys {
		keys[i] = rng.Uint64()
		m[keys[i]] = 1
		*tab.ref(keys[i]) = 1
	}
	b.ResetTimer()
	for i := range b.N {
		j := i % live
		k := rng.Uint64()
		if useMap {
			delete(m, keys[j])
			m[k] |= 2
			_ = m[k^1]
		} else {
			tab.del(keys[j])
			*tab.ref(k) |= 2
			tab.get(k ^ 1)
		}
		keys[j] = k
	}
}

func BenchmarkRouterIndexChurn(b *testing.B) {
	for _, live := range []int{16 << 10, 512 << 10} {
		for _, kind := range []string{"hashTab", "map"} {
			b.Run(kind+"/live="+itoa(live), func(b *testing.B) { benchChurn(b, live, kind == "map") })
		}
	}
}

func itoa(n int) string {
	if n >= 1<<10 {
		return itoa(n>>10) + "k"
	}
	s := ""
	for ; n > 0 || s == ""; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
