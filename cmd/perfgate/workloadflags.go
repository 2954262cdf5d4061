package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/perfgate/perfgate/fixtures"
)

// workloadFlags are the flags of the workloads that ask for more than text; the flags all
// workloads share (--isl, --osl, --requests, ...) are caseFlags'.
type workloadFlags struct {
	reasoning                                      *string
	tools, toolProps                               *int
	toolChoice                                     *string
	schemaDepth, schemaProps, schemaEnums, schemas *int
	images, distinctImages                         *int
	imageSize                                      *string
	batch, documents, queryLen                     *int
}

func addWorkloadFlags(fs *flag.FlagSet) *workloadFlags {
	return &workloadFlags{
		reasoning:      fs.String("reasoning", "on", "reasoning: how hard the model thinks: on (its default effort), low, medium, high, or off"),
		tools:          fs.Int("tools", 8, "tools, agent: tool definitions every request offers"),
		toolProps:      fs.Int("tool-schema-props", 4, "tools, agent: properties of each tool's parameters"),
		toolChoice:     fs.String("tool-choice", "", "tools, agent: auto, required or none (default: the server's, auto where tools are offered)"),
		schemaDepth:    fs.Int("schema-depth", 2, "structured: nested objects in the answer's JSON schema"),
		schemaProps:    fs.Int("schema-props", 6, "structured: properties of each object of the schema"),
		schemaEnums:    fs.Int("schema-enums", 4, "structured: values of each enum property (0: no enums)"),
		schemas:        fs.Int("schemas", 1, "structured: distinct schemas, given out in turn"),
		images:         fs.Int("images", 1, "images: images in every request"),
		imageSize:      fs.String("image-size", "512x512", "images: WIDTHxHEIGHT of every image in pixels"),
		distinctImages: fs.Int("distinct-images", 0, "images: distinct images, repeated in turn (0: every image new)"),
		batch:          fs.Int("batch", 16, "embeddings: inputs a request"),
		documents:      fs.Int("documents", 16, "rerank: documents a request, each --isl tokens"),
		queryLen:       fs.Int("query-len", 32, "rerank: query length in tokens"),
	}
}

// APIs a workload may be sent to. Every list starts with the workload's default.
var (
	generativeAPIs = []string{"completions", "chat", "responses"}
	chatAPIs       = []string{"chat", "responses"}
)

// workloadKind is a --workload value: the APIs its requests may be sent to (the first is
// the default --api), the flag that sets each of its fields (so that an error names the
// flag), and how the flags build it.
type workloadKind struct {
	name  string
	apis  []string
	flags map[string]string
	build func(f *caseFlags) (fixtures.Workload, error)
}

// Fields most workloads share, and the flags that set them.
var (
	lengthFlags = map[string]string{"ISL": "isl", "ISLDist": "isl-stddev", "OSL": "osl", "OSLDist": "osl-stddev", "Prompts": "requests"}
	toolFlags   = map[string]string{"Functions": "tools", "Props": "tool-schema-props", "Choice": "tool-choice"}
	turnFlags   = map[string]string{"Sessions": "sessions", "Turns": "turns", "Think": "think"}
)

// workloadKinds are the --workload values, in the order the usage lists them.
var workloadKinds = []workloadKind{
	{"synthetic", generativeAPIs, lengthFlags, func(f *caseFlags) (fixtures.Workload, error) {
		return fixtures.Synthetic{ISL: *f.isl, ISLStdDev: *f.islSD, OSL: *f.osl, OSLStdDev: *f.oslSD, Prompts: *f.requests, Seed: *f.seed, Vocab: *f.vocab}, nil
	}},
	{"shared-prefix", generativeAPIs, with(lengthFlags, map[string]string{"PrefixRatio": "prefix-ratio", "NumPrefixes": "num-prefixes", "GroupSize": "group-size"}),
		func(f *caseFlags) (fixtures.Workload, error) {
			return fixtures.SharedPrefix{ISL: *f.isl, OSL: *f.osl, OSLDist: f.oslDist(), PrefixRatio: *f.prefixRatio, NumPrefixes: *f.numPrefixes,
				GroupSize: *f.groupSize, Prompts: *f.requests, Seed: *f.seed, Vocab: *f.vocab}, nil
		}},
	{"multi-turn", generativeAPIs, with(lengthFlags, turnFlags), func(f *caseFlags) (fixtures.Workload, error) {
		return f.multiTurn(), nil
	}},
	{"reasoning", chatAPIs, with(lengthFlags, map[string]string{"Effort": "reasoning"}), func(f *caseFlags) (fixtures.Workload, error) {
		return fixtures.Reasoning{ISL: *f.isl, OSL: *f.osl, ISLDist: f.islDist(), OSLDist: f.oslDist(), Prompts: *f.requests, Effort: *f.wl.reasoning, Seed: *f.seed}, nil
	}},
	{"tools", chatAPIs, with(lengthFlags, toolFlags), func(f *caseFlags) (fixtures.Workload, error) {
		return fixtures.Tools{ISL: *f.isl, OSL: *f.osl, ISLDist: f.islDist(), OSLDist: f.oslDist(), Prompts: *f.requests,
			Functions: *f.wl.tools, Props: *f.wl.toolProps, Choice: *f.wl.toolChoice, Seed: *f.seed}, nil
	}},
	{"agent", chatAPIs, with(lengthFlags, turnFlags, toolFlags), func(f *caseFlags) (fixtures.Workload, error) {
		mt := f.multiTurn()
		mt.Vocab = 0
		return fixtures.Agent{MultiTurn: mt, Functions: *f.wl.tools, Props: *f.wl.toolProps, Choice: *f.wl.toolChoice}, nil
	}},
	{"structured", chatAPIs, with(lengthFlags, map[string]string{"Depth": "schema-depth", "Props": "schema-props", "Enums": "schema-enums", "Schemas": "schemas"}),
		func(f *caseFlags) (fixtures.Workload, error) {
			return fixtures.Structured{ISL: *f.isl, OSL: *f.osl, ISLDist: f.islDist(), OSLDist: f.oslDist(), Prompts: *f.requests,
				Depth: *f.wl.schemaDepth, Props: *f.wl.schemaProps, Enums: *f.wl.schemaEnums, Schemas: *f.wl.schemas, Seed: *f.seed}, nil
		}},
	{"images", chatAPIs, with(lengthFlags, map[string]string{"Count": "images", "Width": "image-size", "Height": "image-size", "Distinct": "distinct-images"}),
		func(f *caseFlags) (fixtures.Workload, error) {
			w, h, err := imageSize(*f.wl.imageSize)
			return fixtures.Images{ISL: *f.isl, OSL: *f.osl, ISLDist: f.islDist(), OSLDist: f.oslDist(), Prompts: *f.requests,
				Count: *f.wl.images, Width: w, Height: h, Distinct: *f.wl.distinctImages, Seed: *f.seed}, err
		}},
	{"embeddings", []string{"embeddings"}, with(lengthFlags, map[string]string{"Batch": "batch"}), func(f *caseFlags) (fixtures.Workload, error) {
		return fixtures.Embeddings{Batch: *f.wl.batch, ISL: *f.isl, ISLDist: f.islDist(), Prompts: *f.requests, Seed: *f.seed}, nil
	}},
	{"rerank", []string{"rerank"}, map[string]string{"DocLen": "isl", "DocLenDist": "isl-stddev", "Prompts": "requests", "Documents": "documents", "QueryLen": "query-len"},
		func(f *caseFlags) (fixtures.Workload, error) {
			return fixtures.Rerank{QueryLen: *f.wl.queryLen, Documents: *f.wl.documents, DocLen: *f.isl, DocLenDist: f.islDist(), Prompts: *f.requests, Seed: *f.seed}, nil
		}},
}

// with is the union of field-to-flag maps.
func with(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// workloadNames lists the --workload values: "a, b or c".
func workloadNames() string {
	names := make([]string, len(workloadKinds))
	for i, k := range workloadKinds {
		names[i] = k.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// kind returns the --workload value's kind, or nil with --trace.
func (f *caseFlags) kind() (*workloadKind, error) {
	if *f.tracePath != "" {
		return nil, nil
	}
	for i := range workloadKinds {
		if workloadKinds[i].name == *f.workload {
			return &workloadKinds[i], nil
		}
	}
	return nil, fmt.Errorf("--workload %q: want %s", *f.workload, workloadNames())
}

// islDist and oslDist are the normal length distributions --isl-stddev and --osl-stddev
// ask for, unset when they are 0 (fixed lengths).
func (f *caseFlags) islDist() fixtures.Dist { return normalDist(*f.isl, *f.islSD) }
func (f *caseFlags) oslDist() fixtures.Dist { return normalDist(*f.osl, *f.oslSD) }

func normalDist(mean int, sd float64) fixtures.Dist {
	if sd == 0 {
		return fixtures.Dist{}
	}
	return fixtures.Normal(float64(mean), sd)
}

// multiTurn is the multi-turn workload the flags describe, the agent's sessions too.
func (f *caseFlags) multiTurn() fixtures.MultiTurn {
	return fixtures.MultiTurn{Sessions: *f.sessions, Turns: *f.turns, ISL: *f.isl, OSL: *f.osl, ISLDist: f.islDist(), OSLDist: f.oslDist(),
		Think: *f.think, Seed: *f.seed, Vocab: *f.vocab}
}

// imageSize parses --image-size: WIDTHxHEIGHT.
func imageSize(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		w, err = strconv.Atoi(ws)
		if err == nil {
			h, err = strconv.Atoi(hs)
		}
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("--image-size %q: want WIDTHxHEIGHT in pixels, e.g. 512x512", s)
	}
	return w, h, nil
}

// flagErrors rewrites the problems Validate found with a workload so that each names the
// flag that set the field at fault and its value.
func (f *caseFlags) flagErrors(err error, flags map[string]string) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, f.flagErrors(e, flags))
		}
		return errors.Join(errs...)
	}
	var fe *fixtures.FieldError
	if errors.As(err, &fe) {
		if name, ok := flags[fe.Field]; ok {
			return fmt.Errorf("--%s %s: %w", name, f.fs.Lookup(name).Value, err)
		}
	}
	return err
}

// apiFor is the --api value, or the workload's default API when it is not set (a trace's:
// completions); an API the workload cannot be sent to is an error naming the flag.
func (f *caseFlags) apiFor(kind *workloadKind) (string, error) {
	if kind == nil {
		return cmp.Or(*f.api, "completions"), nil
	}
	if *f.api == "" {
		return kind.apis[0], nil
	}
	if !slices.Contains(kind.apis, *f.api) {
		return "", fmt.Errorf("--api %q: the %s workload is sent to %s", *f.api, kind.name, strings.Join(kind.apis, " or "))
	}
	return *f.api, nil
}
