package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// OpenAPI returns the API's OpenAPI 3 document, generated from the route
// table and the wire types, so that it cannot drift from the handlers.
func OpenAPI() []byte { return openapiJSON(routes) }

func openapiJSON(rs []route) []byte {
	b, err := json.MarshalIndent(openapiDoc(rs), "", "  ")
	if err != nil {
		panic(err) // the document is built from static values
	}
	return append(b, '\n')
}

func (h *handler) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(h.doc)
	return err
}

type obj = map[string]any

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func openapiDoc(rs []route) obj {
	schemas := obj{}
	paths := obj{}
	for _, rt := range rs {
		op := operation(rt, schemas)
		p, _ := paths[rt.path].(obj)
		if p == nil {
			p = obj{}
			paths[rt.path] = p
		}
		p[strings.ToLower(rt.method)] = op
	}
	schemaOf(reflect.TypeOf(errorBody{}), schemas)
	return obj{
		"openapi": "3.0.3",
		"info": obj{
			"title":       "Suanli control plane API",
			"version":     "v1",
			"description": "JSON over HTTP. Send `Authorization: Bearer <token>`. Errors are `{\"error\": …, \"problems\": [{\"field\", \"message\"}]}`; client mistakes are 4xx. Quantities are integers: GFLOPS, MiB, thousandths.",
		},
		"paths": paths,
		"components": obj{
			"schemas":         schemas,
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}},
			"responses": obj{
				"Error": obj{
					"description": "An error, with every problem of an invalid request and its field path.",
					"content":     obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/Error"}}},
				},
				"Throttled": obj{
					"description": "Refused by admission control: the caller's tenant is over its request rate, or its queue is full, or it waited too long for a seat. Retry after the Retry-After header's seconds.",
					"headers":     obj{"Retry-After": obj{"description": "seconds to wait before retrying", "schema": obj{"type": "integer"}}},
					"content":     obj{"application/json": obj{"schema": obj{"$ref": "#/components/schemas/Error"}}},
				},
			},
		},
	}
}

// operation is the OpenAPI operation of a route: its parameters, request
// body, responses and security; the schemas it uses are added to schemas.
func operation(rt route, schemas obj) obj {
	op := obj{
		"summary":     rt.summary,
		"operationId": operationID(rt),
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
	}
	for _, q := range rt.query {
		params = append(params, obj{"name": q.name, "in": "query", "description": q.doc, "schema": obj{"type": "string"}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.request != nil {
		op["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": schemaOf(reflect.TypeOf(rt.request), schemas)}}}
	}
	code := rt.code
	if code == 0 {
		code = http.StatusOK
	}
	ok := obj{"description": http.StatusText(code)}
	switch {
	case rt.path == "/metrics":
		ok["content"] = obj{"text/plain": obj{"schema": obj{"type": "string"}}}
	case rt.path == "/v1/events":
		ok["content"] = obj{"text/event-stream": obj{"schema": schemaOf(reflect.TypeOf(rt.response), schemas)}}
	case rt.response != nil:
		ok["content"] = obj{"application/json": obj{"schema": schemaOf(reflect.TypeOf(rt.response), schemas)}}
	}
	errRef := obj{"$ref": "#/components/responses/Error"}
	responses := obj{itoa(code): ok, "default": errRef}
	if rt.roles != nil {
		op["security"] = []any{obj{"bearer": []any{}}}
		op["x-roles"] = rt.roles
		responses["401"] = errRef
		responses["403"] = errRef
		responses["429"] = obj{"$ref": "#/components/responses/Throttled"}
	} else {
		op["security"] = []any{}
	}
	if rt.request != nil || len(rt.query) > 0 {
		responses["400"] = errRef
	}
	op["responses"] = responses
	return op
}

// errorBody mirrors v1.Error's JSON shape for the document.
type errorBody struct {
	Error    string `json:"error"`
	Problems []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"problems,omitempty"`
}

func itoa(n int) string { return strconv.Itoa(n) }

func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	for _, part := range strings.Split(rt.path, "/") {
		part = strings.Trim(part, "{}")
		part = strings.ReplaceAll(part, ".", "_")
		if part == "" || part == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

var timeType = reflect.TypeOf(time.Time{})

// schemaOf returns the JSON schema of t, adding named structs to schemas
// and referring to them.
func schemaOf(t reflect.Type, schemas obj) obj {
	switch {
	case t == timeType:
		return obj{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		return schemaOf(t.Elem(), schemas)
	}
	switch t.Kind() {
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return obj{"type": "integer", "format": "int64"}
	case reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice:
		return obj{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return obj{"type": "object"}
		}
		return obj{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Struct:
		name := t.Name()
		if name == "errorBody" {
			name = "Error"
		}
		if name == "" {
			return structSchema(t, schemas)
		}
		if _, ok := schemas[name]; !ok {
			schemas[name] = obj{} // break cycles
			schemas[name] = structSchema(t, schemas)
		}
		return obj{"$ref": "#/components/schemas/" + name}
	}
	return obj{}
}

func structSchema(t reflect.Type, schemas obj) obj {
	props := obj{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, schemas)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	s := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}
