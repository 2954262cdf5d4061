package perftest

import (
	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/api"
)

// engineFields are the request fields the case's target asks for (RequestFields), or nil.
func (c Case) engineFields() map[string]any {
	if f, ok := c.Target.(RequestFields); ok {
		return f.RequestFields(c.API.spec().Name)
	}
	return nil
}

// checkRequest asks the case's target (RequestChecker) whether its server takes every field
// of the case's request bodies, Case.Extra included.
func (c Case) checkRequest() error {
	rc, ok := c.Target.(RequestChecker)
	if !ok {
		return nil
	}
	a := c.API.spec()
	// Which fields a body holds does not depend on the model or the prompt's length.
	names := api.NewBuilder(a, "", c.engineFields(), c.Extra).Names(&fixtures.Request{Text: "?", OutputTokens: 1})
	return rc.CheckRequest(a.Name, names)
}
