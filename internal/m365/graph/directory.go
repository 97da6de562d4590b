package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Organization returns the tenant's organization: GET /organization, a
// one-element collection (https://learn.microsoft.com/graph/api/organization-list).
func (c *Client) Organization(ctx context.Context) (*Organization, error) {
	var out page[Organization]
	if _, err := c.do(ctx, &request{method: http.MethodGet, path: "/organization", out: &out}); err != nil {
		return nil, fmt.Errorf("get organization: %w", err)
	}
	if len(out.Value) == 0 {
		return nil, errors.New("get organization: empty collection")
	}
	return &out.Value[0], nil
}

// ListDomains returns the tenant's domains: GET /domains
// (https://learn.microsoft.com/graph/api/domain-list).
func (c *Client) ListDomains(ctx context.Context) ([]Domain, error) {
	ds, err := collectAll[Domain](ctx, c, &request{method: http.MethodGet, path: "/domains"})
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return ds, nil
}

// GetDomain returns one domain: GET /domains/{name}
// (https://learn.microsoft.com/graph/api/domain-get). A missing domain is
// an *Error with IsNotFound.
func (c *Client) GetDomain(ctx context.Context, name string) (*Domain, error) {
	var d Domain
	if _, err := c.do(ctx, &request{method: http.MethodGet, path: "/domains/" + seg(name), out: &d}); err != nil {
		return nil, fmt.Errorf("get domain %s: %w", name, err)
	}
	return &d, nil
}

// UpdateDomain patches a domain: PATCH /domains/{name}
// (https://learn.microsoft.com/graph/api/domain-update), e.g.
// {AuthenticationType: "Managed"} to defederate (contract §3).
func (c *Client) UpdateDomain(ctx context.Context, name string, u DomainUpdate) error {
	if _, err := c.do(ctx, &request{method: http.MethodPatch, path: "/domains/" + seg(name), body: u}); err != nil {
		return fmt.Errorf("update domain %s: %w", name, err)
	}
	return nil
}

func federationPath(domain string) string {
	return "/domains/" + seg(domain) + "/federationConfiguration"
}

// ListFederationConfigurations returns a domain's federation configuration
// (zero or one): GET /domains/{name}/federationConfiguration
// (https://learn.microsoft.com/graph/api/domain-list-federationconfiguration).
// A subdomain shows its root's. A 404 — Graph's answer when the domain has
// none (contract §3) — gives an empty list; since a domain that does not
// exist answers 404 too, check the domain with GetDomain first.
func (c *Client) ListFederationConfigurations(ctx context.Context, domain string) ([]InternalDomainFederation, error) {
	fs, err := collectAll[InternalDomainFederation](ctx, c, &request{method: http.MethodGet, path: federationPath(domain)})
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list federation configuration of %s: %w", domain, err)
	}
	return fs, nil
}

// GetFederationConfiguration returns one configuration by id:
// GET /domains/{name}/federationConfiguration/{id}.
func (c *Client) GetFederationConfiguration(ctx context.Context, domain, id string) (*InternalDomainFederation, error) {
	var f InternalDomainFederation
	if _, err := c.do(ctx, &request{method: http.MethodGet, path: federationPath(domain) + "/" + seg(id), out: &f}); err != nil {
		return nil, fmt.Errorf("get federation configuration %s of %s: %w", id, domain, err)
	}
	return &f, nil
}

// CreateFederationConfiguration federates a domain: POST
// /domains/{name}/federationConfiguration → 201
// (https://learn.microsoft.com/graph/api/domain-post-federationconfiguration).
// The contract (§3) requires issuerUri, signingCertificate,
// preferredAuthenticationProtocol and federatedIdpMfaBehavior: a
// configuration created without a signing certificate leaves the domain
// federated and unmanageable, so they are checked before anything is sent.
func (c *Client) CreateFederationConfiguration(ctx context.Context, domain string, f InternalDomainFederation) (*InternalDomainFederation, error) {
	if err := checkFederation(f, true); err != nil {
		return nil, fmt.Errorf("create federation configuration of %s: %w", domain, err)
	}
	var out InternalDomainFederation
	if _, err := c.do(ctx, &request{method: http.MethodPost, path: federationPath(domain), body: f, out: &out}); err != nil {
		return nil, fmt.Errorf("create federation configuration of %s: %w", domain, err)
	}
	c.MarkWritten(out.ID)
	return &out, nil
}

// UpdateFederationConfiguration patches a configuration: PATCH
// /domains/{name}/federationConfiguration/{id} → 200 with the object
// (https://learn.microsoft.com/graph/api/internaldomainfederation-update).
// Only f's non-empty fields are sent; properties named in null are set to
// null (e.g. "nextSigningCertificate" after a rollover).
func (c *Client) UpdateFederationConfiguration(ctx context.Context, domain, id string, f InternalDomainFederation, null ...string) (*InternalDomainFederation, error) {
	if err := checkFederation(f, false); err != nil {
		return nil, fmt.Errorf("update federation configuration of %s: %w", domain, err)
	}
	body, err := withNulls(f, null)
	if err != nil {
		return nil, fmt.Errorf("update federation configuration of %s: %w", domain, err)
	}
	var out InternalDomainFederation
	if _, err := c.do(ctx, &request{method: http.MethodPatch, path: federationPath(domain) + "/" + seg(id), body: body, out: &out}); err != nil {
		return nil, fmt.Errorf("update federation configuration of %s: %w", domain, err)
	}
	return &out, nil
}

// DeleteFederationConfiguration defederates a domain: DELETE
// /domains/{name}/federationConfiguration/{id} → 204
// (https://learn.microsoft.com/graph/api/internaldomainfederation-delete).
// Users of the domain then need cloud passwords (contract §3).
func (c *Client) DeleteFederationConfiguration(ctx context.Context, domain, id string) error {
	if _, err := c.do(ctx, &request{method: http.MethodDelete, path: federationPath(domain) + "/" + seg(id)}); err != nil {
		return fmt.Errorf("delete federation configuration %s of %s: %w", id, domain, err)
	}
	return nil
}

// checkFederation applies the contract's rules (§3) before a write.
func checkFederation(f InternalDomainFederation, create bool) error {
	if create {
		var missing []string
		for name, v := range map[string]string{
			"issuerUri": f.IssuerURI, "signingCertificate": f.SigningCertificate,
			"preferredAuthenticationProtocol": f.PreferredAuthenticationProtocol,
			"federatedIdpMfaBehavior":         f.FederatedIdpMfaBehavior,
		} {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("graph: federation configuration lacks %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
		}
	}
	for name, v := range map[string]string{"signingCertificate": f.SigningCertificate, "nextSigningCertificate": f.NextSigningCertificate} {
		if strings.ContainsAny(v, "\r\n -") {
			return fmt.Errorf("graph: %s must be base64 of the DER bytes on one line, without PEM armour", name)
		}
	}
	return nil
}

// ListSubscribedSkus returns the tenant's licences: GET /subscribedSkus
// (https://learn.microsoft.com/graph/api/subscribedsku-list).
func (c *Client) ListSubscribedSkus(ctx context.Context) ([]SubscribedSku, error) {
	ss, err := collectAll[SubscribedSku](ctx, c, &request{method: http.MethodGet, path: "/subscribedSkus"})
	if err != nil {
		return nil, fmt.Errorf("list subscribed SKUs: %w", err)
	}
	return ss, nil
}

// RestoreDeletedItem restores a soft-deleted user or Microsoft 365 group:
// POST /directory/deletedItems/{id}/restore → 200 with the object
// (https://learn.microsoft.com/graph/api/directory-deleteditems-restore).
// Security groups are deleted at once and cannot be restored.
func (c *Client) RestoreDeletedItem(ctx context.Context, id string) (*DirectoryObject, error) {
	var out DirectoryObject
	// Repeating a restore is harmless: the second answers an error, never
	// a second object.
	if _, err := c.do(ctx, &request{method: http.MethodPost, path: "/directory/deletedItems/" + seg(id) + "/restore", out: &out, safe: true}); err != nil {
		return nil, fmt.Errorf("restore deleted item %s: %w", id, err)
	}
	c.MarkWritten(id)
	return &out, nil
}
