// Package authn decides who a person is: password hashing (argon2id), TOTP
// second factor (RFC 6238) with replay protection, recovery codes,
// authentication policies, browser SSO sessions and throttling of failed
// attempts. Its state lives in storage so that any Portico node can
// continue what another started.
package authn
