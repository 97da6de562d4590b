// Package sync is the export engine of the Office 365 application's
// Synchronization tab: it keeps Microsoft 365's users and licences in step
// with Portico's directory, as explicit steps that can each be tested alone
// (../shared/DESIGN.md "Synchronization"):
//
//  1. Desired: the members of the application's permission groups, with
//     the UPN of the UPN rule; users whose UPN domain is not one of the
//     application's domains, or whose attributes Microsoft 365 would
//     refuse, are reported, not exported (desired.go).
//  2. Actual: the Microsoft 365 users of those domains, read in pages of
//     999 with $select (actual.go).
//  3. Plan: typed operations, each with its reason and the attributes it
//     changes, computed from desired, actual and the sync links without any
//     I/O (plan.go). The plan is data: table tests cover it without HTTP.
//  4. Apply: $batch of 20, a bounded number of batches in flight, each
//     outcome recorded at once together with its link, so that a run
//     cancelled or killed at any point resumes without duplicates
//     (apply.go).
//  5. Record: the run's counts, report and state (service.go).
//
// Safety rules: nothing without a sync link is ever disabled or deleted; a
// run that would disable or delete more users than the delete threshold
// stops before it changes anything; a dry run and staging mode never write
// to Microsoft 365; a rerun with nothing changed makes no write at all.
//
// The package is named sync after its job; importers alias it (m365sync)
// because of the standard library's sync.
package sync
