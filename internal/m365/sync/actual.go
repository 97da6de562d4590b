package sync

import (
	"context"
	"fmt"
	"strings"

	"github.com/portico-idp/portico/internal/m365/graph"
)

// Graph is what the engine needs of Microsoft Graph (internal/m365/graph
// implements it).
type Graph interface {
	Token(ctx context.Context) (graph.AccessToken, error)
	ListUsers(ctx context.Context, q graph.Query, fn func([]graph.User) error) error
	GetUser(ctx context.Context, key string, sel ...string) (*graph.User, error)
	ListDomains(ctx context.Context) ([]graph.Domain, error)
	ListSubscribedSkus(ctx context.Context) ([]graph.SubscribedSku, error)
	Batch(ctx context.Context, reqs []graph.BatchRequest) ([]graph.BatchResponse, error)
}

// userSelect is every property the planner compares: fewer properties cost
// fewer resource units, and usageLocation and onPremisesImmutableId come
// back only when selected (contract §2, §7).
var userSelect = []string{"id", "userPrincipalName", "displayName", "givenName", "surname", "mail", "mailNickname",
	"accountEnabled", "usageLocation", "onPremisesImmutableId", "jobTitle", "department", "mobilePhone",
	"businessPhones", "proxyAddresses", "assignedLicenses"}

// Actual is the second step's result: the Microsoft 365 users of the
// application's domains, and the tenant facts the planner needs.
type Actual struct {
	Users []graph.User
	// Federated names the application's domains whose authentication is
	// Federated (creates there carry no password); the others are managed.
	Federated map[string]bool
	// Verified names the tenant's verified domains.
	Verified map[string]bool
	// SKUs are the tenant's subscriptions.
	SKUs []graph.SubscribedSku
}

// ActualState reads the users of domains in pages of 999 with $select
// (https://learn.microsoft.com/graph/api/user-list), keeping those whose
// UPN is in one of them, plus every user whose id is in linked (a linked
// user renamed to another domain in Microsoft 365 is still Portico's). It
// also reads the domains and the subscribed SKUs.
func ActualState(ctx context.Context, g Graph, domains []string, linked map[string]bool) (Actual, error) {
	out := Actual{Federated: map[string]bool{}, Verified: map[string]bool{}}
	want := map[string]bool{}
	for _, d := range domains {
		want[strings.ToLower(d)] = true
	}
	ds, err := g.ListDomains(ctx)
	if err != nil {
		return out, fmt.Errorf("actual state: domains: %w", err)
	}
	for _, d := range ds {
		name := strings.ToLower(d.ID)
		if d.IsVerified {
			out.Verified[name] = true
		}
		if d.Federated() {
			out.Federated[name] = true
		}
	}
	if out.SKUs, err = g.ListSubscribedSkus(ctx); err != nil {
		return out, fmt.Errorf("actual state: subscribed SKUs: %w", err)
	}
	err = g.ListUsers(ctx, graph.Query{Select: userSelect, Top: 999}, func(page []graph.User) error {
		for _, u := range page {
			_, domain, _ := strings.Cut(strings.ToLower(u.UserPrincipalName), "@")
			if want[domain] || linked[u.ID] {
				out.Users = append(out.Users, u)
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("actual state: users: %w", err)
	}
	return out, nil
}
