package m365sim

import (
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The CSDL conformance test: every property the sim emits must exist on the
// entity type (or a base type) in Microsoft's Graph v1.0 schema, with a JSON
// value of a compatible type. The schema is ../shared/reference/graph-v1.0-Prod.csdl
// beside the repository (or the file named by PORTICO_GRAPH_CSDL).

type csdlProp struct {
	Name     string `xml:"Name,attr"`
	Type     string `xml:"Type,attr"`
	Nullable string `xml:"Nullable,attr"`
}

type csdlType struct {
	Name     string     `xml:"Name,attr"`
	BaseType string     `xml:"BaseType,attr"`
	Props    []csdlProp `xml:"Property"`
	Nav      []csdlProp `xml:"NavigationProperty"`
}

type csdlEnum struct {
	Name    string `xml:"Name,attr"`
	Members []struct {
		Name string `xml:"Name,attr"`
	} `xml:"Member"`
}

type csdlModel struct {
	entities map[string]*csdlType
	complex  map[string]*csdlType
	enums    map[string]*csdlEnum
}

func findCSDL(t *testing.T) string {
	if p := os.Getenv("PORTICO_GRAPH_CSDL"); p != "" {
		return p
	}
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "reference", "graph-v1.0-Prod.csdl")
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("cannot find the module root to locate ../shared/reference/graph-v1.0-Prod.csdl")
	return ""
}

// csdlCache parses the 3 MB schema once per test binary.
var csdlCache struct {
	sync.Mutex
	m *csdlModel
}

func loadCSDL(t *testing.T) *csdlModel {
	t.Helper()
	csdlCache.Lock()
	defer csdlCache.Unlock()
	if csdlCache.m == nil {
		csdlCache.m = parseCSDL(t)
	}
	return csdlCache.m
}

func parseCSDL(t *testing.T) *csdlModel {
	t.Helper()
	path := findCSDL(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the Graph v1.0 CSDL is needed for this test (set PORTICO_GRAPH_CSDL): %v", err)
	}
	defer f.Close()
	var doc struct {
		Schemas []struct {
			Namespace string     `xml:"Namespace,attr"`
			Entities  []csdlType `xml:"EntityType"`
			Complex   []csdlType `xml:"ComplexType"`
			Enums     []csdlEnum `xml:"EnumType"`
		} `xml:"DataServices>Schema"`
	}
	if err := xml.NewDecoder(f).Decode(&doc); err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	m := &csdlModel{entities: map[string]*csdlType{}, complex: map[string]*csdlType{}, enums: map[string]*csdlEnum{}}
	for _, s := range doc.Schemas {
		if s.Namespace != "microsoft.graph" {
			continue
		}
		for i := range s.Entities {
			m.entities[s.Entities[i].Name] = &s.Entities[i]
		}
		for i := range s.Complex {
			m.complex[s.Complex[i].Name] = &s.Complex[i]
		}
		for i := range s.Enums {
			m.enums[s.Enums[i].Name] = &s.Enums[i]
		}
	}
	if m.entities["user"] == nil || m.complex["passwordProfile"] == nil {
		t.Fatalf("%s does not look like the Graph v1.0 CSDL", path)
	}
	return m
}

// prop finds a property of a type or its base types.
func (m *csdlModel) prop(typeName, name string, complex bool) (csdlProp, bool) {
	for typeName != "" {
		var ty *csdlType
		if complex {
			ty = m.complex[typeName]
		} else {
			ty = m.entities[typeName]
		}
		if ty == nil {
			return csdlProp{}, false
		}
		for _, p := range ty.Props {
			if p.Name == name {
				return p, true
			}
		}
		typeName = strings.TrimPrefix(strings.TrimPrefix(ty.BaseType, "graph."), "microsoft.graph.")
	}
	return csdlProp{}, false
}

// checkValue checks a JSON value against an Edm or graph type.
func (m *csdlModel) checkValue(where, typ string, nullable bool, v any) error {
	if inner, ok := strings.CutPrefix(typ, "Collection("); ok {
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %s must be a JSON array, got %T", where, typ, v)
		}
		inner = strings.TrimSuffix(inner, ")")
		for i, e := range arr {
			if err := m.checkValue(fmt.Sprintf("%s[%d]", where, i), inner, false, e); err != nil {
				return err
			}
		}
		return nil
	}
	if v == nil {
		if !nullable {
			return fmt.Errorf("%s: %s is not nullable but is null", where, typ)
		}
		return nil
	}
	switch typ {
	case "Edm.String":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: Edm.String, got %T", where, v)
		}
	case "Edm.Boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: Edm.Boolean, got %T", where, v)
		}
	case "Edm.Int32", "Edm.Int64":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: %s, got %v", where, typ, v)
		}
	case "Edm.DateTimeOffset":
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			return fmt.Errorf("%s: Edm.DateTimeOffset, got %v", where, v)
		}
	case "Edm.Guid":
		s, ok := v.(string)
		if !ok || !isGUID(s) {
			return fmt.Errorf("%s: Edm.Guid, got %v", where, v)
		}
	default:
		name := strings.TrimPrefix(typ, "graph.")
		if e := m.enums[name]; e != nil {
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("%s: enum %s, got %T", where, name, v)
			}
			for _, mem := range e.Members {
				if mem.Name == s {
					return nil
				}
			}
			return fmt.Errorf("%s: %q is not a member of %s", where, s, name)
		}
		if m.complex[name] == nil {
			return fmt.Errorf("%s: unknown type %s", where, typ)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: complex %s, got %T", where, name, v)
		}
		return m.checkObject(where, name, true, obj)
	}
	return nil
}

func (m *csdlModel) checkObject(where, typeName string, complex bool, obj map[string]any) error {
	for k, v := range obj {
		if strings.HasPrefix(k, "@") || strings.Contains(k, "@odata.") || k == "members@delta" {
			continue
		}
		p, ok := m.prop(typeName, k, complex)
		if !ok {
			return fmt.Errorf("%s: property %q does not exist on %s or its base types", where, k, typeName)
		}
		if err := m.checkValue(where+"."+k, p.Type, p.Nullable != "false", v); err != nil {
			return err
		}
	}
	return nil
}

func allNames(s *entitySchema) string {
	var names []string
	for _, p := range s.props {
		names = append(names, p.name)
	}
	return strings.Join(names, ",")
}

func TestCSDLPropertyTables(t *testing.T) {
	m := loadCSDL(t)
	s := newSchemas()
	for typeName, sch := range map[string]*entitySchema{"user": s.user, "group": s.group, "domain": s.domain,
		"internalDomainFederation": s.federation, "organization": s.organization, "subscribedSku": s.sku} {
		if sch.typeName != "microsoft.graph."+typeName {
			t.Errorf("schema %s has type name %s", typeName, sch.typeName)
		}
		for _, p := range sch.props {
			cp, ok := m.prop(typeName, p.name, false)
			if !ok {
				t.Errorf("%s.%s is not in the CSDL", typeName, p.name)
				continue
			}
			want := map[propType][]string{pString: {"Edm.String", "Edm.Guid"}, pBool: {"Edm.Boolean"}, pInt32: {"Edm.Int32"},
				pDateTime: {"Edm.DateTimeOffset"}, pStringColl: {"Collection(Edm.String)"}, pLicenses: {"Collection(graph.assignedLicense)"},
				pPasswordProf: {"graph.passwordProfile"}}[p.typ]
			if want != nil && !hasFold(want, cp.Type) && !(p.typ == pString && m.enums[strings.TrimPrefix(cp.Type, "graph.")] != nil) {
				t.Errorf("%s.%s: sim type %s, CSDL type %s", typeName, p.name, p.typ.edmName(), cp.Type)
			}
		}
	}
}

func TestCSDLResponseBodies(t *testing.T) {
	m := loadCSDL(t)
	e := newEnv(t)
	s := e.s.schemas
	// Populate objects so that complex values are present.
	u := e.do("POST", "/v1.0/users", e.all, newUserBody("csdl@contoso.com")).body["id"].(string)
	e.do("PATCH", "/v1.0/users/"+u, e.all, map[string]any{"usageLocation": "US", "businessPhones": []any{"+1 425 555 0109"}, "otherMails": []any{"a@b.example"}})
	e.do("POST", "/v1.0/users/"+u+"/assignLicense", e.all, map[string]any{"addLicenses": []any{map[string]any{"skuId": skuE3, "disabledPlans": []any{planExch}}}, "removeLicenses": []any{}})
	e.do("POST", "/v1.0/domains/contoso.com/federationConfiguration", e.all, fedBody("http://contoso.com/adfs/services/trust"))
	check := func(name, typeName, path string, collection bool) {
		t.Run(name, func(t *testing.T) {
			r := e.do("GET", path, e.all, nil)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", path, r.status, r.raw)
			}
			objs := []map[string]any{r.body}
			if collection {
				objs = r.values()
			}
			if len(objs) == 0 {
				t.Fatalf("%s returned nothing", path)
			}
			for i, o := range objs {
				if err := m.checkObject(fmt.Sprintf("%s[%d]", name, i), typeName, false, o); err != nil {
					t.Error(err)
				}
			}
		})
	}
	check("users", "user", "/v1.0/users?$select="+allNames(s.user), true)
	check("user", "user", "/v1.0/users/"+u+"?$select="+allNames(s.user), false)
	check("users default", "user", "/v1.0/users", true)
	check("groups", "group", "/v1.0/groups?$select="+allNames(s.group), true)
	check("domains", "domain", "/v1.0/domains", true)
	check("federation", "internalDomainFederation", "/v1.0/domains/contoso.com/federationConfiguration", true)
	check("organization", "organization", "/v1.0/organization", true)
	check("subscribedSkus", "subscribedSku", "/v1.0/subscribedSkus", true)
	check("deleted users", "user", "/v1.0/directory/deletedItems/microsoft.graph.user", true)
	check("members", "user", "/v1.0/groups/02bd9fd6-8f93-4758-87c3-1fb73740a315/members", true)
	check("users delta", "user", "/v1.0/users/delta", true)
	check("groups delta", "group", "/v1.0/groups/delta", true)
	// The checker itself must catch wrong names, types and nulls.
	for _, bad := range []map[string]any{{"nope": 1}, {"accountEnabled": "yes"}, {"businessPhones": nil}, {"assignedLicenses": []any{map[string]any{"skuId": "x"}}}} {
		if m.checkObject("self-test", "user", false, bad) == nil {
			t.Errorf("checker accepted %v", bad)
		}
	}
	// directoryObject: deletedDateTime comes from the base type.
	if _, ok := m.prop("user", "deletedDateTime", false); !ok {
		t.Error("user must inherit deletedDateTime from directoryObject")
	}
}
