package backends

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Request is how an engine's request bodies differ from the ones perftest builds: the
// fields it needs changed, and, for a server that refuses fields it does not declare, the
// fields it takes. APIs are named as perftest names them: "completions", "chat". The zero
// Request changes nothing and checks nothing.
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
}

// fields are the fields the engine needs in api's bodies (perftest.RequestFields).
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

// RequestFields are the fields the engine needs in a request's body for api ("completions",
// "chat"), merged over perftest's defaults before Case.Extra (perftest.RequestFields).
func (s *Server) RequestFields(api string) map[string]any { return s.engine.Request.fields(api) }

// CheckRequest returns an error naming each field of a body for api that the engine's
// server would refuse (perftest.RequestChecker).
func (s *Server) CheckRequest(api string, fields []string) error {
	return s.engine.Request.check(s.engine.Name, api, fields)
}

// RequestFields are the fields the engine needs in a request's body for api ("completions",
// "chat"), merged over perftest's defaults before Case.Extra (perftest.RequestFields).
func (c *Container) RequestFields(api string) map[string]any { return c.engine.Request.fields(api) }

// CheckRequest returns an error naming each field of a body for api that the engine's
// server would refuse (perftest.RequestChecker).
func (c *Container) CheckRequest(api string, fields []string) error {
	return c.engine.Request.check(c.engine.Name, api, fields)
}
