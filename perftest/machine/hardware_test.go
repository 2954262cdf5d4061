package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassFromNvidiaSMI(t *testing.T) {
	for in, want := range map[string]string{
		"NVIDIA H100 80GB HBM3\nNVIDIA H100 80GB HBM3\n": "nvidia-h100-80gb-hbm3",
		"NVIDIA A100-SXM4-40GB\n":                        "nvidia-a100-sxm4-40gb",
		"Tesla T4\nNVIDIA L4\n":                          "nvidia-l4+tesla-t4",
		"  \n":                                           "",
		"../../etc NVIDIA\n":                             "etc-nvidia",
	} {
		assert.Equal(t, want, classFromNvidiaSMI(in), "%q", in)
	}
}

func TestHardwareClass(t *testing.T) {
	c := HardwareClass()
	assert.NotEmpty(t, c, "detected: a GPU model or cpu")
	assert.Equal(t, c, NormalizeClass(c))
	t.Logf("this machine's hardware class: %s", c)
}
