package mock

// deque is a FIFO of sequences that also takes preempted ones back at its head.
type deque struct {
	buf        []*seq
	head, size int
}

func (q *deque) len() int { return q.size }

func (q *deque) grow() {
	n := max(16, 2*len(q.buf))
	b := make([]*seq, n)
	for i := range q.size {
		b[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = b, 0
}

func (q *deque) pushBack(s *seq) {
	if q.size == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.size)%len(q.buf)] = s
	q.size++
}

func (q *deque) pushFront(s *seq) {
	if q.size == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = s
	q.size++
}

func (q *deque) front() *seq { return q.buf[q.head] }

func (q *deque) popFront() *seq {
	s := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return s
}
