package backends

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Request is how an engine's request bodies differ from the ones perftest builds: the
// fields it needs changed, how it turns a reasoning model's thinking on, off or to an
// effort, which APIs its server does not serve, and, for a server that refuses fields it
// does not declare, the fields it takes. APIs are named as perftest names them:
// "completions", "chat", "responses", "embeddings", "rerank". The zero Request changes
// nothing and checks nothing.
type Request struct {
	// Fields are merged, per API, over perftest's default body before Case.Extra: a value
	// replaces or adds a field, a nil value removes one (a field the engine ignores).
	Fields map[string]map[string]any
	// Declared lists, per API, every top-level field the engine's server takes, for a
	// server that refuses any other. An API it does not list is not checked; nil: the
	// server takes any field.
	Declared map[string][]string
	// Refusal says how the server refuses an undeclared field, for the error ("": that it
	// refuses it).
	Refusal string
	// Reasoning returns the fields that ask the engine's server for reasoning at level
	// ("off", "on", "low", "medium", "high") in a body for api; nil, or a nil answer,
	// leaves perftest's own (an API's effort field for a level, nothing for on and off).
	Reasoning func(api, level string) map[string]any
	// Unserved names the APIs the engine's server does not serve, each with why: a case of
	// one fails before it sends a request.
	Unserved map[string]string
}

// apiPath says where the engine's server takes api's requests: perftest's path (""), or
// an error for an API it does not serve.
func (r Request) apiPath(engine, api string) (string, error) {
	if why, ok := r.Unserved[api]; ok {
		return "", fmt.Errorf("%s serves no %s API: %s", engine, api, why)
	}
	return "", nil
}

// reasoning is the engine's spelling of a reasoning level for api, or nil.
func (r Request) reasoning(api, level string) map[string]any {
	if r.Reasoning == nil {
		return nil
	}
	return r.Reasoning(api, level)
}

// fields are the fields the engine needs in api's bodies (perftest.Dialect).
func (r Request) fields(api string) map[string]any { return maps.Clone(r.Fields[api]) }

// check returns an error naming each of fields, the names of a body's fields for api, that
// the server of engine would refuse.
func (r Request) check(engine, api string, fields []string) error {
	declared, ok := r.Declared[api]
	if !ok {
		return nil
	}
	var errs []error
	for _, f := range fields {
		if !slices.Contains(declared, f) {
			errs = append(errs, fmt.Errorf("request field %q: %s does not declare it for %s requests, and %s: remove it from Case.Extra",
				f, engine, api, cmp.Or(r.Refusal, "its server refuses a field it does not declare")))
		}
	}
	return errors.Join(errs...)
}

// RequestFields are the fields the engine needs in a request's body for api, merged over
// perftest's defaults before Case.Extra (perftest.Dialect).
func (s *Server) RequestFields(api string) map[string]any { return s.engine.Request.fields(api) }

// CheckRequest returns an error naming each field of a body for api that the engine's
// server would refuse (perftest.Dialect).
func (s *Server) CheckRequest(api string, fields []string) error {
	return s.engine.Request.check(s.engine.Name, api, fields)
}

// RequestFields are the fields the engine needs in a request's body for api, merged over
// perftest's defaults before Case.Extra (perftest.Dialect).
func (c *Container) RequestFields(api string) map[string]any { return c.engine.Request.fields(api) }

// CheckRequest returns an error naming each field of a body for api that the engine's
// server would refuse (perftest.Dialect).
func (c *Container) CheckRequest(api string, fields []string) error {
	return c.engine.Request.check(c.engine.Name, api, fields)
}

// ReasoningFields are the fields that ask the engine's server for reasoning at level in a
// body for api (perftest.Dialect).
func (s *Server) ReasoningFields(api, level string) map[string]any {
	return s.engine.Request.reasoning(api, level)
}

// APIPath says where the engine's server takes api's requests, or that it serves no such
// API (perftest.Dialect).
func (s *Server) APIPath(api string) (string, error) {
	return s.engine.Request.apiPath(s.engine.Name, api)
}

// ReasoningFields are the fields that ask the engine's server for reasoning at level in a
// body for api (perftest.Dialect).
func (c *Container) ReasoningFields(api, level string) map[string]any {
	return c.engine.Request.reasoning(api, level)
}

// APIPath says where the engine's server takes api's requests, or that it serves no such
// API (perftest.Dialect).
func (c *Container) APIPath(api string) (string, error) {
	return c.engine.Request.apiPath(c.engine.Name, api)
}
