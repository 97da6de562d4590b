package m365sim

import (
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// Request bodies are checked against the property tables the way Graph's
// OData reader does: unknown names, read-only names and wrong JSON types are
// refused with 400 and the messages below. Messages for type mismatches are
// those of the OData library (Microsoft.OData.Core) that Graph runs on.

// passwordProfile is a graph.passwordProfile body value.
type passwordProfile struct {
	Password                             string
	ForceChangePasswordNextSignIn        bool
	ForceChangePasswordNextSignInWithMfa bool
}

// bodyMode says which properties a body may set.
type bodyMode int

const (
	modeWrite bodyMode = iota // POST/PATCH: writable properties only
	modeSeed                  // seed files may also set read-only properties
)

// parseProps converts the properties of body that are in schema into stored
// values. Annotations ("@odata.type") and the names in extra (handled by the
// caller, such as "members@odata.bind") are skipped.
func parseProps(s *entitySchema, body map[string]any, mode bodyMode, extra ...string) (map[string]any, *graphError) {
	out := map[string]any{}
	// Visit keys in a fixed order so that the first error is deterministic.
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := body[k]
		if hasFold(extra, k) {
			continue
		}
		if k == "@odata.type" {
			t, ok := v.(string)
			if !ok || !strings.EqualFold(strings.TrimPrefix(t, "#"), s.typeName) {
				return nil, errODataBadRequest("A type named '%v' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.", v)
			}
			continue
		}
		if strings.HasPrefix(k, "@") {
			continue
		}
		p := s.lookup(k)
		if p == nil || p.name != k {
			if strings.Contains(k, "@") {
				return nil, errODataBadRequest("The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", k, s.typeName)
			}
			if s.open {
				return nil, errBadRequest("Invalid property '%s'.", k)
			}
			return nil, errODataBadRequest("The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", k, s.typeName)
		}
		if !p.has(fWritable) && !(mode == modeSeed && p.has(fSeedOnly)) {
			return nil, errBadRequest("Property '%s' is read-only and cannot be set.", k)
		}
		val, e := convertValue(p, v)
		if e != nil {
			return nil, e
		}
		out[p.name] = val
	}
	return out, nil
}

// jsonKind names the JSON reader node the OData library reports.
func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "StartObject"
	case []any:
		return "StartArray"
	default:
		return "PrimitiveValue"
	}
}

func errNode(found, want string) *graphError {
	return errODataBadRequest("An unexpected '%s' node was found when reading from the JSON reader. A '%s' node was expected.", found, want)
}

func errPrimitive(edm string) *graphError {
	return errODataBadRequest("Cannot convert a primitive value to the expected type '%s'. See the inner exception for more details.", edm)
}

func convertValue(p *propDef, v any) (any, *graphError) {
	switch p.typ {
	case pString:
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			return x, nil
		case map[string]any, []any:
			return nil, errNode(jsonKind(v), "PrimitiveValue")
		default:
			return nil, errPrimitive("Edm.String")
		}
	case pBool:
		switch x := v.(type) {
		case nil:
			return nil, nil
		case bool:
			return x, nil
		case map[string]any, []any:
			return nil, errNode(jsonKind(v), "PrimitiveValue")
		default:
			return nil, errPrimitive("Edm.Boolean")
		}
	case pInt32:
		switch x := v.(type) {
		case nil:
			return nil, nil
		case json.Number:
			n, err := x.Int64()
			if err != nil || n < -1<<31 || n > 1<<31-1 {
				return nil, errPrimitive("Edm.Int32")
			}
			return n, nil
		case map[string]any, []any:
			return nil, errNode(jsonKind(v), "PrimitiveValue")
		default:
			return nil, errPrimitive("Edm.Int32")
		}
	case pDateTime:
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, errODataBadRequest("Cannot convert the literal '%s' to the expected type 'Edm.DateTimeOffset'.", x)
			}
			return t.UTC(), nil
		case map[string]any, []any:
			return nil, errNode(jsonKind(v), "PrimitiveValue")
		default:
			return nil, errPrimitive("Edm.DateTimeOffset")
		}
	case pStringColl:
		arr, ok := v.([]any)
		if v == nil {
			return nil, errODataBadRequest("A null value was found for the property named '%s', which has the expected type 'Collection(Edm.String)[Nullable=False]'. The expected type 'Collection(Edm.String)[Nullable=False]' does not allow null values.", p.name)
		}
		if !ok {
			return nil, errNode(jsonKind(v), "StartArray")
		}
		out := make([]string, 0, len(arr))
		for _, e := range arr {
			s, ok := e.(string)
			if !ok {
				if _, isObj := e.(map[string]any); isObj {
					return nil, errNode("StartObject", "PrimitiveValue")
				}
				if _, isArr := e.([]any); isArr {
					return nil, errNode("StartArray", "PrimitiveValue")
				}
				return nil, errPrimitive("Edm.String")
			}
			out = append(out, s)
		}
		return out, nil
	case pPasswordProf:
		if v == nil {
			return nil, nil
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, errNode(jsonKind(v), "StartObject")
		}
		var pp passwordProfile
		for k, x := range obj {
			switch k {
			case "password":
				s, ok := x.(string)
				if !ok && x != nil {
					return nil, errPrimitive("Edm.String")
				}
				pp.Password = s
			case "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa":
				b, ok := x.(bool)
				if !ok && x != nil {
					return nil, errPrimitive("Edm.Boolean")
				}
				if k == "forceChangePasswordNextSignIn" {
					pp.ForceChangePasswordNextSignIn = b
				} else {
					pp.ForceChangePasswordNextSignInWithMfa = b
				}
			case "@odata.type":
			default:
				return nil, errODataBadRequest("The property '%s' does not exist on type 'microsoft.graph.passwordProfile'. Make sure to only use property names that are defined by the type or mark the type as open type.", k)
			}
		}
		return pp, nil
	case pLicenses:
		arr, ok := v.([]any)
		if !ok {
			return nil, errNode(jsonKind(v), "StartArray")
		}
		out := []assignedLicense{}
		for _, e := range arr {
			l, ge := parseAssignedLicense(e)
			if ge != nil {
				return nil, ge
			}
			out = append(out, l)
		}
		return out, nil
	default:
		if v == nil {
			return nil, nil
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, errMalformedJSON()
		}
		return rawJSON(raw), nil
	}
}

// parseAssignedLicense reads one graph.assignedLicense.
func parseAssignedLicense(v any) (assignedLicense, *graphError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return assignedLicense{}, errNode(jsonKind(v), "StartObject")
	}
	l := assignedLicense{DisabledPlans: []string{}}
	for k, x := range obj {
		switch k {
		case "skuId":
			s, ok := x.(string)
			if !ok || !isGUID(s) {
				return l, errODataBadRequest("Cannot convert the literal '%v' to the expected type 'Edm.Guid'.", x)
			}
			l.SkuID = strings.ToLower(s)
		case "disabledPlans":
			arr, ok := x.([]any)
			if !ok {
				return l, errNode(jsonKind(x), "StartArray")
			}
			for _, e := range arr {
				s, ok := e.(string)
				if !ok || !isGUID(s) {
					return l, errODataBadRequest("Cannot convert the literal '%v' to the expected type 'Edm.Guid'.", e)
				}
				l.DisabledPlans = append(l.DisabledPlans, strings.ToLower(s))
			}
		case "@odata.type":
		default:
			return l, errODataBadRequest("The property '%s' does not exist on type 'microsoft.graph.assignedLicense'. Make sure to only use property names that are defined by the type or mark the type as open type.", k)
		}
	}
	if l.SkuID == "" {
		return l, errBadRequest("Invalid license: skuId is required.")
	}
	return l, nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// errRequired is Graph's answer to a missing required property.
func errRequired(name string) *graphError {
	e := errBadRequest("Property value is required but is empty or missing.")
	e.details = []errorDetail{{Code: "PropertyRequired", Target: name, Message: "Property '" + name + "' is required."}}
	return e
}

// errInvalidValue is Graph's answer to a value the directory refuses.
func errInvalidValue(name, resource string) *graphError {
	e := errBadRequest("Invalid value specified for property '%s' of resource '%s'.", name, resource)
	e.details = []errorDetail{{Code: "InvalidValue", Target: name, Message: e.message}}
	return e
}

// errConflict is the directory's uniqueness error
// (https://learn.microsoft.com/graph/api/user-post-users, contract §7).
func errConflict(prop string) *graphError {
	e := errBadRequest("Another object with the same value for property %s already exists.", prop)
	e.details = []errorDetail{{Code: "ObjectConflict", Target: prop, Message: e.message}}
	return e
}

// errTooManyRefs refuses more than 20 references in one request
// (group-update: "up to 20 members in a single request").
func errTooManyRefs() *graphError {
	return errBadRequest("The request exceeds the limit of 20 object references in members@odata.bind.")
}
