package m365sim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Delta queries. Sources: https://learn.microsoft.com/graph/delta-query-overview,
// https://learn.microsoft.com/graph/api/user-delta, group-delta,
// https://learn.microsoft.com/graph/delta-query-groups and the contract §2.
//
// A round starts with GET /users/delta (full state, paged with nextLink) and
// ends with an @odata.deltaLink that carries the change sequence at which the
// round started. The next round returns the objects changed since then:
// live ones in full, soft-deleted ones as @removed "changed", purged ones as
// @removed "deleted"; groups carry members@delta.

var permUserDelta = permUserRead

// deltaState is what $skiptoken and $deltatoken encode.
type deltaState struct {
	Since  uint64 `json:"a"`           // changes after this sequence; 0 = full state
	End    uint64 `json:"b"`           // the sequence at which the round started
	Cursor uint64 `json:"c,omitempty"` // last object seq (full state) or change seq emitted
	Select string `json:"s,omitempty"`
	Full   bool   `json:"f,omitempty"`
}

const deltaTokenPrefix = "DLT1"

func encodeDelta(d deltaState) string {
	raw, _ := json.Marshal(d)
	return deltaTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

func decodeDelta(s string) (deltaState, bool) {
	var d deltaState
	rest, ok := strings.CutPrefix(s, deltaTokenPrefix)
	if !ok {
		return d, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || json.Unmarshal(raw, &d) != nil {
		return d, false
	}
	return d, true
}

func errSyncState() *graphError {
	return gerr(http.StatusGone, "syncStateNotFound", "The sync state is no longer available. Perform a full synchronization without a delta token.")
}

// deltaPageSize honours "Prefer: odata.maxpagesize=N" (delta-query-overview).
func (c *gctx) deltaPageSize() int {
	for _, p := range c.header.Values("Prefer") {
		for _, part := range strings.Split(p, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "odata.maxpagesize="); ok {
				if n, err := strconv.Atoi(v); err == nil && n > 0 {
					return min(n, 999)
				}
			}
		}
	}
	return 100
}

// deltaRequest reads the round state from the query.
func (c *gctx) deltaRequest() (deltaState, *graphError) {
	if e := c.checkQueryOptions("$select", "$deltatoken", "$skiptoken", "$filter", "$expand", "$top"); e != nil {
		return deltaState{}, e
	}
	if tok := c.q.Get("$skiptoken"); tok != "" {
		d, ok := decodeDelta(tok)
		if !ok {
			return d, errSyncState()
		}
		return d, nil
	}
	if tok := c.q.Get("$deltatoken"); tok != "" {
		if strings.EqualFold(tok, "latest") {
			return deltaState{Since: c.t.changeSeq, End: c.t.changeSeq, Cursor: c.t.changeSeq, Select: c.q.Get("$select")}, nil
		}
		d, ok := decodeDelta(tok)
		if !ok {
			return d, errSyncState()
		}
		d.End, d.Cursor, d.Full = c.t.changeSeq, d.Since, false
		return d, nil
	}
	if c.q.Get("$filter") != "" {
		return deltaState{}, errUnsupportedQuery("Unsupported Query.")
	}
	return deltaState{End: c.t.changeSeq, Full: true, Select: c.q.Get("$select")}, nil
}

// changedIDs lists the ids changed in (since, end] ordered by their last
// change, with that change's sequence.
func changedIDs(log []changeEvent, since, end uint64) []changeEvent {
	i := sort.Search(len(log), func(i int) bool { return log[i].seq > since })
	last := map[string]uint64{}
	for ; i < len(log) && log[i].seq <= end; i++ {
		last[log[i].id] = log[i].seq
	}
	out := make([]changeEvent, 0, len(last))
	for id, seq := range last {
		out = append(out, changeEvent{seq: seq, id: id})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].seq < out[b].seq })
	return out
}

func (c *gctx) writeDelta(entitySet string, d deltaState, more bool, n int, item func(b []byte, i int) []byte) {
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, c.context(entitySet))
	link := c.base + "/" + entitySet + "/delta?"
	if more {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, link+encodeQuery(url.Values{"$skiptoken": {encodeDelta(d)}}))
	} else {
		next := deltaState{Since: d.End, Select: d.Select}
		b = append(b, `,"@odata.deltaLink":`...)
		b = appendJSONString(b, link+encodeQuery(url.Values{"$deltatoken": {encodeDelta(next)}}))
	}
	b = append(b, `,"value":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, i)
	}
	b = append(b, "]}"...)
	c.write(http.StatusOK, b)
}

func removedEntry(b []byte, id, reason string, annotations func([]byte) []byte) []byte {
	b = append(b, '{')
	if annotations != nil {
		b = annotations(b)
		b = append(b, ',')
	}
	b = append(b, `"id":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"@removed":{"reason":`...)
	b = appendJSONString(b, reason)
	return append(b, "}}"...)
}

func (c *gctx) deltaSelect(s *entitySchema, sel string) ([]*propDef, bool, *graphError) {
	saved := c.q
	c.q = url.Values{}
	withMembers := sel == ""
	var keep []string
	for _, p := range strings.Split(sel, ",") {
		p = strings.TrimSpace(p)
		if strings.EqualFold(p, "members") && s == c.s.schemas.group {
			withMembers = true
			continue
		}
		if p != "" {
			keep = append(keep, p)
		}
	}
	if len(keep) > 0 {
		c.q.Set("$select", strings.Join(keep, ","))
	} else if sel != "" {
		c.q.Set("$select", "id")
	}
	props, e := c.selectProps(s)
	c.q = saved
	return props, withMembers, e
}

func (c *gctx) usersDelta() *graphError {
	if e := c.allow(permUserDelta); e != nil {
		return e
	}
	d, e := c.deltaRequest()
	if e != nil {
		return e
	}
	props, _, e := c.deltaSelect(c.s.schemas.user, d.Select)
	if e != nil {
		return e
	}
	size := c.deltaPageSize()
	if d.Full {
		l := &c.t.users
		var page []*User
		more := false
		for i := l.after(d.Cursor); i < len(l.items); i++ {
			if len(page) == size {
				more = true
				break
			}
			page = append(page, l.items[i])
		}
		if more {
			d.Cursor = page[len(page)-1].seq
		}
		c.writeDelta("users", d, more, len(page), func(b []byte, i int) []byte {
			return appendObject(b, props, page[i].get, nil)
		})
		return nil
	}
	if d.Since < c.t.logStart {
		return errSyncState()
	}
	changes := changedIDs(c.t.userLog, d.Cursor, d.End)
	more := len(changes) > size
	if more {
		changes = changes[:size]
		d.Cursor = changes[len(changes)-1].seq
	}
	c.writeDelta("users", d, more, len(changes), func(b []byte, i int) []byte {
		id := changes[i].id
		if u, ok := c.t.users.get(id); ok {
			return appendObject(b, props, u.get, nil)
		}
		if _, ok := c.t.deleted[id]; ok {
			return removedEntry(b, id, "changed", nil)
		}
		return removedEntry(b, id, "deleted", nil)
	})
	return nil
}

func (c *gctx) groupsDelta() *graphError {
	if e := c.allow(permGroupRead); e != nil {
		return e
	}
	d, e := c.deltaRequest()
	if e != nil {
		return e
	}
	props, withMembers, e := c.deltaSelect(c.s.schemas.group, d.Select)
	if e != nil {
		return e
	}
	size := c.deltaPageSize()
	memberRef := func(b []byte, id string, removed bool) []byte {
		typ := "#microsoft.graph.user"
		if _, ok := c.t.groups.get(id); ok {
			typ = "#microsoft.graph.group"
		}
		if removed {
			return removedEntry(b, id, "deleted", typeAnnotation(typ))
		}
		b = append(b, `{"@odata.type":`...)
		b = appendJSONString(b, typ)
		b = append(b, `,"id":`...)
		b = appendJSONString(b, id)
		return append(b, '}')
	}
	renderGroup := func(b []byte, g *Group, since uint64) []byte {
		obj := appendObject(nil, props, g.get, nil)
		if !withMembers {
			return append(b, obj...)
		}
		var refs []byte
		n := 0
		if since == 0 {
			for _, m := range g.members {
				if n > 0 {
					refs = append(refs, ',')
				}
				refs = memberRef(refs, m, false)
				n++
			}
		} else {
			// Net membership change per member over (since, end].
			net := map[string]bool{}
			var order []string
			for _, ev := range c.t.memberLog {
				if ev.groupID != g.id || ev.seq <= since || ev.seq > d.End {
					continue
				}
				if _, seen := net[ev.member]; !seen {
					order = append(order, ev.member)
				}
				net[ev.member] = ev.added
			}
			for _, m := range order {
				if n > 0 {
					refs = append(refs, ',')
				}
				refs = memberRef(refs, m, !net[m])
				n++
			}
		}
		if n == 0 {
			return append(b, obj...)
		}
		b = append(b, obj[:len(obj)-1]...)
		b = append(b, `,"members@delta":[`...)
		b = append(b, refs...)
		return append(b, "]}"...)
	}
	if d.Full {
		l := &c.t.groups
		var page []*Group
		more := false
		for i := l.after(d.Cursor); i < len(l.items); i++ {
			if len(page) == size {
				more = true
				break
			}
			page = append(page, l.items[i])
		}
		if more {
			d.Cursor = page[len(page)-1].seq
		}
		c.writeDelta("groups", d, more, len(page), func(b []byte, i int) []byte {
			return renderGroup(b, page[i], 0)
		})
		return nil
	}
	if d.Since < c.t.logStart {
		return errSyncState()
	}
	changes := changedIDs(c.t.groupLog, d.Cursor, d.End)
	more := len(changes) > size
	if more {
		changes = changes[:size]
		d.Cursor = changes[len(changes)-1].seq
	}
	c.writeDelta("groups", d, more, len(changes), func(b []byte, i int) []byte {
		id := changes[i].id
		if g, ok := c.t.groups.get(id); ok {
			return renderGroup(b, g, d.Since)
		}
		if _, ok := c.t.deleted[id]; ok {
			return removedEntry(b, id, "changed", nil)
		}
		return removedEntry(b, id, "deleted", nil)
	})
	return nil
}
