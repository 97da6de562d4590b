package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portico-idp/portico/internal/storage"
)

// The named queries of smart lockout, kept in each dialect's
// queries/lockout.sql and checked at start-up like the others.
func init() {
	queryNames = append(queryNames, "GetFamiliarAddress", "UpsertFamiliarAddress", "TrimFamiliarAddresses",
		"DeleteExpiredFamiliarAddresses", "ReleaseHit", "ForgetFamiliarAddresses")
}

// ReleaseHit takes back one event counted by Hit under key (an attempt
// counted before it was checked, which then succeeded). The count never
// goes below zero.
func (s *Store) ReleaseHit(ctx context.Context, key string) (err error) {
	defer s.track("ReleaseHit", time.Now(), &err)
	if _, err = s.exec(ctx, s.q["ReleaseHit"], key); err != nil {
		return fmt.Errorf("release a count of %s: %w", key, s.classify(err))
	}
	return nil
}

// FamiliarAddress returns when the user last completed a sign-in from
// prefix, or storage.ErrNotFound when never or when that record expired
// before now.
func (s *Store) FamiliarAddress(ctx context.Context, tenantID, userID, prefix string, now time.Time) (seen time.Time, err error) {
	defer s.track("FamiliarAddress", time.Now(), &err)
	err = s.queryRow(ctx, s.q["GetFamiliarAddress"], tenantID, userID, prefix, s.t(now)).Scan(timeCol{&seen})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, storage.ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read familiar address of %s: %w", userID, s.classify(err))
	}
	return seen, nil
}

// RememberAddress records, in one transaction, that the user completed a
// sign-in from prefix at seen (valid until expires), and forgets all but
// the keep most recently seen prefixes of that user.
func (s *Store) RememberAddress(ctx context.Context, tenantID, userID, prefix string, seen, expires time.Time, keep int) (err error) {
	defer s.track("RememberAddress", time.Now(), &err)
	if keep < 1 {
		keep = 1
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.execIn(ctx, tx, s.q["UpsertFamiliarAddress"], tenantID, userID, prefix, s.t(seen), s.t(expires)); err != nil {
			return s.classify(err)
		}
		if _, err := s.execIn(ctx, tx, s.q["TrimFamiliarAddresses"], tenantID, userID, keep); err != nil {
			return s.classify(err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remember familiar address of %s: %w", userID, err)
	}
	return nil
}

// ForgetAddresses deletes every familiar address of a user (after a
// password or authenticator reset, where a place that saw the old
// credentials must not keep the larger budget).
func (s *Store) ForgetAddresses(ctx context.Context, tenantID, userID string) (err error) {
	defer s.track("ForgetAddresses", time.Now(), &err)
	if _, err = s.exec(ctx, s.q["ForgetFamiliarAddresses"], tenantID, userID); err != nil {
		return fmt.Errorf("forget familiar addresses of %s: %w", userID, s.classify(err))
	}
	return nil
}
