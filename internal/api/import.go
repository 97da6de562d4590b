package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/directory"
)

// importResult is one line of an import's answer.
type importResult struct {
	Index    int      `json:"index"`
	Status   int      `json:"status"`
	ID       string   `json:"id,omitempty"`
	Username string   `json:"username,omitempty"`
	Error    *Problem `json:"error,omitempty"`
}

type importResponse struct {
	Created int            `json:"created"`
	Failed  int            `json:"failed"`
	Results []importResult `json:"results"`
}

// importUsers creates up to MaxImport users from a JSON array or NDJSON
// (one object a line). The whole body is parsed before anything is
// written, so a syntax error or an oversized request changes nothing; after
// that each item succeeds or fails on its own.
func (a *API) importUsers(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	body, err := readBody(w, r, maxImportBody)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	raws, err := splitItems(body, mt == "application/x-ndjson")
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	if len(raws) > MaxImport {
		writeProblem(w, r, a.log, newProblem(http.StatusRequestEntityTooLarge, "too-large", "Too many users",
			fmt.Sprintf("an import takes at most %d users; this one has %d: split it", MaxImport, len(raws))))
		return
	}
	results := make([]importResult, len(raws))
	var items []admin.ImportItem
	var index []int
	for i, raw := range raws {
		results[i].Index = i
		item, err := parseImportItem(raw)
		if err != nil {
			p := toProblem(err)
			results[i].Status, results[i].Error = p.Status, p
			continue
		}
		items = append(items, item)
		index = append(index, i)
	}
	resp := importResponse{Results: results}
	created, err := a.svc.ImportUsers(r.Context(), t.ID, items)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	for j, res := range created {
		i := index[j]
		results[i].Username = res.User.Username
		if res.Err != nil {
			p := toProblem(res.Err)
			if p.Status >= 500 {
				a.log.ErrorContext(r.Context(), "import item failed", "index", i, "err", res.Err)
			}
			results[i].Status, results[i].Error = p.Status, p
			continue
		}
		results[i].Status, results[i].ID = http.StatusCreated, res.User.ID
	}
	for _, res := range results {
		if res.Status == http.StatusCreated {
			resp.Created++
		} else {
			resp.Failed++
		}
	}
	a.log.InfoContext(r.Context(), "users imported", "tenant", t.Slug, "created", resp.Created, "failed", resp.Failed)
	writeJSON(w, http.StatusOK, resp)
}

// splitItems cuts the body into raw JSON values: the elements of an array,
// or the values of an NDJSON stream.
func splitItems(body []byte, ndjson bool) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []json.RawMessage
	if !ndjson {
		tok, err := dec.Token()
		if err != nil {
			return nil, decodeError(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON",
				"the body must be a JSON array of users, or NDJSON with Content-Type application/x-ndjson")
		}
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, decodeError(err)
		}
		out = append(out, raw)
		if len(out) > MaxImport {
			break // enough to refuse the request; no need to read on
		}
	}
	if !ndjson && len(out) <= MaxImport {
		if _, err := dec.Token(); err != nil {
			return nil, decodeError(err)
		}
		if dec.More() {
			return nil, newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "unexpected data after the array")
		}
	}
	return out, nil
}

func parseImportItem(raw json.RawMessage) (admin.ImportItem, error) {
	var item admin.ImportItem
	m, err := fields(raw)
	if err != nil {
		return item, err
	}
	if g, ok := m["groupIds"]; ok {
		if err := json.Unmarshal(g, &item.GroupIDs); err != nil {
			return item, fieldProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "groupIds", "must be an array of group ids")
		}
		delete(m, "groupIds")
	}
	return item, applyFields(m, userFields(&item.User), true)
}
