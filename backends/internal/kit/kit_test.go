package kit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
)

func TestGPUCount(t *testing.T) {
	const noGPU = -1 // backends.NoGPU
	for _, tc := range []struct{ gpus, tp, want int }{
		{0, 0, 1}, {0, 4, 4}, {noGPU, 4, 0}, {2, 4, 2},
	} {
		if got := GPUCount(tc.gpus, tc.tp); got != tc.want {
			t.Errorf("GPUCount(%d, %d) = %d, want %d", tc.gpus, tc.tp, got, tc.want)
		}
	}
}

func TestIdentityOf(t *testing.T) {
	req := testcontainers.GenericContainerRequest{ContainerRequest: testcontainers.ContainerRequest{
		Image: "img:1",
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.DeviceRequests = []container.DeviceRequest{{Count: 2}, {DeviceIDs: []string{"0", "1", "2"}}}
		},
	}}
	got := IdentityOf("eng", "a model", req)
	want := map[string]string{"backend": "eng", "model": "a_model", "image": "img:1", "gpus": "5"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("IdentityOf mismatch (-want +got):\n%s", diff)
	}
}

func TestParseSession(t *testing.T) {
	pid, host, ok := parseSession(SessionID)
	if !ok || pid <= 0 || host == "" {
		t.Errorf("parseSession(%q) = %d, %q, %v", SessionID, pid, host, ok)
	}
	for _, bad := range []string{"", "12@h", "x-1@h", "0-ab@h", "12-ab"} {
		if _, _, ok := parseSession(bad); ok {
			t.Errorf("parseSession(%q) ok, want not", bad)
		}
	}
}
