// Package permissions is caddy-restauth's policy engine, with no Caddy in
// it: WSO2 Identity Server's resource access control as a plain Go
// library.
//
// A Policy is an immutable, compiled list of first-match resource rules
// (a context pattern, HTTP methods, secured or not, the permissions or
// scopes a caller needs, the authentication handlers allowed) and the
// roles that hold permissions and scopes. Use it in three steps:
//
//   - Canonicalize a request's escaped path (or refuse it: dot segments,
//     encoded slashes, double encoding and the like have no one meaning);
//   - Match the canonical path and method to the first rule that covers
//     them (Decide does both, remembering recent paths);
//   - Authorize a Subject (its roles as a RoleSet, and a token's scopes)
//     on the rule.
//
// Permissions form a tree: holding /permission/admin grants
// /permission/admin/login (Grants). Context patterns are Java regular
// expressions as WSO2's lists write them, case-insensitive in ASCII as
// Java's CASE_INSENSITIVE is; the shapes WSO2 uses run on a linear glob
// matcher, everything else on RE2. LoadResources and LoadUsers read
// WSO2's deployment.toml entries and users.toml files, with errors that
// name the file, line and field; Lint finds what loads but cannot be
// meant. MatchNaive is an independent, slow reference for tests.
package permissions
