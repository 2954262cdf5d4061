//go:build unix

package fakeserver

import "syscall"

// setSmallReceiveBuffer sets a listening socket's receive buffer, which its connections
// take, to 4 KiB (the kernel doubles it).
func setSmallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
	}); cerr != nil {
		return cerr
	}
	return err
}
