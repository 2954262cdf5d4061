package mockcontainer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/mockcontainer"
)

// Build the simulator image from this module and run it (needs Docker, no GPU). In a test,
// mockcontainer.Start(t, cfg) does the same and cleans up.
func ExampleRun() {
	ctx := context.Background()
	ctr, err := mockcontainer.Run(ctx, mockcontainer.Config{MaxNumSeqs: 16, Args: []string{"--speedup-ratio", "10"}})
	defer func() {
		if err := testcontainers.TerminateContainer(ctr); err != nil {
			log.Print(err)
		}
	}()
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Println(ctr.BaseURL(), ctr.Describe())
}

// Every started backend is a perftest.Target and perftest.Describer (stated structurally:
// backends does not import perftest) and a testcontainers.Container.
var (
	_ interface {
		BaseURL() string
		Describe() map[string]string
	} = (*mockcontainer.Container)(nil)
	_ testcontainers.Container = (*mockcontainer.Container)(nil)
)
