package kit

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
)

const (
	// LabelBackend is set on every container package backends starts; its value is the
	// backend.
	LabelBackend = "org.perfgate.backend"
	// LabelSession marks containers started by this process (see [SessionID]).
	LabelSession = "org.perfgate.session"
)

// SessionID identifies this process's containers through the [LabelSession] label:
// "<pid>-<random>@<hostname>", so [RemoveStale] can tell the containers of processes that
// died on this machine.
var SessionID = newSessionID()

func newSessionID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:]) + "@" + host
}

func parseSession(s string) (pid int, host string, ok bool) {
	id, host, ok := strings.Cut(s, "@")
	if !ok {
		return 0, "", false
	}
	p, _, ok := strings.Cut(id, "-")
	if !ok {
		return 0, "", false
	}
	pid, err := strconv.Atoi(p)
	return pid, host, err == nil && pid > 0
}
