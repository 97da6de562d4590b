package graph

import (
	"context"
	"fmt"
	"net/http"
)

// page is one page of a collection (https://learn.microsoft.com/graph/paging):
// follow @odata.nextLink until it is absent; a delta round ends with
// @odata.deltaLink instead (https://learn.microsoft.com/graph/delta-query-overview).
type page[T any] struct {
	Value     []T    `json:"value"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
}

// eachPage gets first and every page its nextLinks name, handing each page
// (possibly empty) to fn. It returns the final page's deltaLink, if any.
// The nextLink is used as given: it is opaque ($skiptoken) and carries the
// original query; headers (ConsistencyLevel, Prefer) are sent again.
func eachPage[T any](ctx context.Context, c *Client, first *request, fn func([]T) error) (string, error) {
	r := first
	seen := map[string]bool{}
	for {
		var p page[T]
		r.out = &p
		if _, err := c.do(ctx, r); err != nil {
			return "", err
		}
		if err := fn(p.Value); err != nil {
			return "", err
		}
		if p.NextLink == "" {
			return p.DeltaLink, nil
		}
		if seen[p.NextLink] {
			return "", fmt.Errorf("graph: %s %s: nextLink repeats itself: %s", first.method, first.path, p.NextLink)
		}
		seen[p.NextLink] = true
		r = &request{method: http.MethodGet, rawURL: p.NextLink, header: first.header, retryNotFound: first.retryNotFound}
	}
}

// collectAll reads every page into one slice.
func collectAll[T any](ctx context.Context, c *Client, first *request) ([]T, error) {
	var all []T
	_, err := eachPage(ctx, c, first, func(p []T) error {
		all = append(all, p...)
		return nil
	})
	return all, err
}

// listRequest builds a GET of a collection with q.
func listRequest(path string, q Query) (*request, error) {
	enc, hdr, err := q.encode()
	if err != nil {
		return nil, err
	}
	r := &request{method: http.MethodGet, path: path, query: enc}
	if len(hdr) > 0 {
		r.header = http.Header{}
		for k, v := range hdr {
			r.header.Set(k, v)
		}
	}
	return r, nil
}

// deltaRequest builds the first request of a delta round.
func deltaRequest(path string, q DeltaQuery) *request {
	r := &request{method: http.MethodGet, path: path}
	if q.Link != "" {
		r.rawURL = q.Link
	} else {
		if len(q.Select) > 0 {
			enc, _, _ := Query{Select: q.Select}.encode()
			r.query = enc
		}
		if q.Latest {
			r.query = append(r.query, [2]string{"$deltatoken", "latest"})
		}
	}
	if q.MaxPageSize > 0 {
		r.header = http.Header{}
		r.header.Set("Prefer", fmt.Sprintf("odata.maxpagesize=%d", q.MaxPageSize))
	}
	return r
}
