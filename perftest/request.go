package perftest

import (
	"fmt"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/api"
)

// layers are what the case's bodies hold beyond the API's fields: the engine's fields and
// its spelling of reasoning (Dialect), then Case.Extra.
func (c Case) layers() api.Layers {
	l := api.Layers{Extra: c.Extra}
	if d, ok := c.Target.(Dialect); ok {
		name := c.API.spec().Name
		l.Engine = d.RequestFields(name)
		l.Reasoning = func(level string) map[string]any { return d.ReasoningFields(name, level) }
	}
	return l
}

// path is where the case's requests go under the server's root: the API's path, or the
// one the target's engine serves it at (Dialect), or an error when it serves none.
func (c Case) path() (string, error) {
	a := c.API.spec()
	if d, ok := c.Target.(Dialect); ok {
		p, err := d.APIPath(a.Name)
		if err != nil {
			return "", fmt.Errorf("API %s: %w", a.Name, err)
		}
		if p != "" {
			return p, nil
		}
	}
	return a.Path, nil
}

// checkRequest asks the case's target (Dialect) whether it serves the case's API at all,
// and whether its server takes every field of the case's request bodies, Case.Extra
// included.
func (c Case) checkRequest() error {
	if _, err := c.path(); err != nil {
		return err
	}
	rc, ok := c.Target.(Dialect)
	if !ok {
		return nil
	}
	a := c.API.spec()
	// Which fields a body holds does not depend on the model or the prompt's length.
	names, err := api.NewBuilder(a, "", c.layers()).Names(probe(a))
	if err != nil {
		return err
	}
	return rc.CheckRequest(a.Name, names)
}

// probe is a plain request the API can carry, whose body's field names are checked.
func probe(a *api.API) *fixtures.Request {
	switch a {
	case api.Embeddings:
		return &fixtures.Request{Inputs: []string{"?"}}
	case api.Rerank:
		return &fixtures.Request{Query: "?", Documents: []string{"?"}}
	}
	return &fixtures.Request{Text: "?", OutputTokens: 1}
}
