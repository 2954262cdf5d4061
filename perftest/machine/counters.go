package machine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/stat's counters: 100 on every architecture Go
// runs Linux on.
const clockTicks = 100

// readCounters reads the cumulative counters under proc (normally /proc): the machine's CPU
// time from stat, the CPU pressure stall total from pressure/cpu, and this process's own
// CPU time. A source that cannot be read sets its error.
func readCounters(proc string) counters {
	var c counters
	c.own, c.statErr = ownCPU()
	if c.statErr == nil {
		c.busy, c.steal, c.total, c.statErr = readStat(filepath.Join(proc, "stat"))
	}
	c.psiSome, c.psiErr = readPressure(filepath.Join(proc, "pressure", "cpu"))
	return c
}

// readStat reads the aggregate "cpu" line of /proc/stat: user nice system idle iowait irq
// softirq steal [guest guest_nice] (guest time is already inside user and nice). Busy time
// is everything but idle and iowait.
func readStat(path string) (busy, steal, total uint64, err error) {
	b, err := readSmall(path)
	if err != nil {
		return 0, 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, fmt.Errorf("%s: first line is not the aggregate cpu line with 8 counters: %q", path, clip(line))
	}
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, 0, fmt.Errorf("%s: cpu counter %d: %w", path, i+1, err)
		}
	}
	user, nice, system, idle, iowait, irq, softirq := v[0], v[1], v[2], v[3], v[4], v[5], v[6]
	steal = v[7]
	busy = user + nice + system + irq + softirq + steal
	return busy, steal, busy + idle + iowait, nil
}

// readPressure reads the "some" line's total (µs) of a PSI file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
func readPressure(path string) (uint64, error) {
	b, err := readSmall(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "some" {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "total="); ok {
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s: some total: %w", path, err)
				}
				return n, nil
			}
		}
		return 0, fmt.Errorf("%s: the some line has no total=", path)
	}
	return 0, fmt.Errorf("%s: no some line", path)
}

// readSmall reads a kernel file of at most 64 KiB (the files read here are a few lines).
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist on this machine", path)
		}
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, err := f.Read(buf)
	if n == 0 && err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf[:n], nil
}

func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}
