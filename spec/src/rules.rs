//! Semantic rules: checks that run on the typed spec once the schema layer has passed.
//!
//! Each rule has a stable id, a default severity, a one-line summary and a fix, listed in
//! [`RULES`] and documented in `docs/rules.md`. Users can turn a rule off or change its severity
//! with a [`RuleConfig`]. Every finding points to the YAML node it is about through the
//! [`LocationIndex`] of the loaded document.

mod config;
mod duplicates;
mod references;
mod routing;
mod secrets;
mod shape;
mod strings;
mod values;

use chrono::{DateTime, Utc};

pub use config::{ConfigError, RuleConfig, RuleSetting};

use crate::diagnostic::{Diagnostic, Severity};
use crate::document::{LocationIndex, escape_pointer_token};
use crate::model::Spec;
use crate::source::Span;

/// A rule: its id, default severity, what it finds and how to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// One line saying what the rule finds.
    pub summary: &'static str,
    /// The usual fix, shown as the `help` of findings.
    pub help: &'static str,
    /// Whether a rule configuration may turn the rule off or change its severity. Loader rules
    /// cannot be configured because a spec that fails them has no typed model to check further.
    pub configurable: bool,
}

const fn loader(id: &'static str, summary: &'static str, help: &'static str) -> Rule {
    Rule { id, severity: Severity::Error, summary, help, configurable: false }
}

const fn semantic(id: &'static str, severity: Severity, summary: &'static str, help: &'static str) -> Rule {
    Rule { id, severity, summary, help, configurable: true }
}

use Severity::{Error, Warning};

/// Every rule `gatectl validate` can report, loader rules first.
pub const RULES: &[Rule] = &[
    loader("invalid-encoding", "The file is not valid UTF-8.", "save the file as UTF-8"),
    loader(
        "invalid-yaml",
        "The file is not valid YAML, or uses a YAML feature gatectl does not read.",
        "fix the syntax at the position shown: indent with spaces, not tabs, and quote a value that contains `: ` or starts with `{`, `[`, `*`, `&` or `!`",
    ),
    loader("duplicate-key", "A mapping has the same key twice.", "remove or rename one of the two keys"),
    loader(
        "input-limit",
        "The file is too large, too deeply nested or expands to too many nodes.",
        "split the file, flatten it, or remove repeated aliases",
    ),
    loader(
        "invalid-document",
        "A spec file or overlay does not have the shape of a spec.",
        "write the file as a mapping with the same fields as a spec",
    ),
    loader(
        "conflicting-value",
        "Two files of a spec directory set the same value differently.",
        "set each value in one file, or move per-environment values into an overlay",
    ),
    loader("schema", "A field is unknown, missing or has the wrong type or format.", "see docs/spec.md for the fields this object accepts"),
    semantic(
        "unknown-upstream",
        Error,
        "A route or split backend names an upstream that is not defined.",
        "define the upstream under `upstreams`, or fix the name",
    ),
    semantic(
        "unknown-policy",
        Error,
        "A route names a rate-limit policy that is not defined.",
        "define the policy under `rateLimitPolicies`, or fix the name",
    ),
    semantic(
        "unknown-auth-provider",
        Error,
        "A route's `security` or a consumer's JWT identity names an auth provider that is not defined, or one of the wrong kind.",
        "define the provider under `authProviders`, or fix the name",
    ),
    semantic(
        "unknown-tier",
        Error,
        "A consumer or a policy's `tiers` names a tier that is not defined.",
        "define the tier under `tiers`, or fix the name",
    ),
    semantic(
        "duplicate-name",
        Error,
        "Two entities of one kind share a name (routes, upstreams, providers, policies, tiers, consumer ids, listeners).",
        "rename one of them; names identify entities in diffs, metrics and overlays",
    ),
    semantic(
        "duplicate-api-key",
        Error,
        "Two API key credentials have the same hash, so one key would identify two consumers.",
        "create a new key for one of them with `gatectl keys create`",
    ),
    semantic(
        "route-destination",
        Error,
        "A route gives both or neither of `upstream` and `split`.",
        "give exactly one of `upstream` and `split`",
    ),
    semantic(
        "auth-provider-kind",
        Error,
        "An auth provider gives both or neither of `jwt` and `apiKey`.",
        "give exactly one of `jwt` and `apiKey`",
    ),
    semantic(
        "jwt-no-keys",
        Error,
        "A JWT provider has neither `jwks` nor `keys`, so no token can be verified.",
        "add `jwks.url` or at least one entry under `keys`",
    ),
    semantic(
        "jwt-key-material",
        Error,
        "A static JWT key lacks the material its algorithm needs: `secret` for HMAC, `publicKey` otherwise.",
        "give `secret` for HS256/HS384/HS512 keys and `publicKey` for the others",
    ),
    semantic(
        "jwt-mixed-algorithms",
        Error,
        "A JWT provider accepts HMAC and public-key algorithms together, which allows algorithm confusion.",
        "split the provider in two, one for HMAC and one for public-key algorithms",
    ),
    semantic(
        "ambiguous-route",
        Error,
        "Two routes match the same requests with the same precedence, and only declaration order decides.",
        "make the routes differ (methods, hosts, headers, path), or merge them into one",
    ),
    semantic(
        "shadowed-route",
        Warning,
        "A route can never match because a route of higher precedence takes all its traffic.",
        "remove the route, or make it more specific than the route that shadows it (see docs/precedence.md)",
    ),
    semantic(
        "zero-weight",
        Error,
        "A traffic split or a weighted upstream has only zero weights, so it cannot send traffic anywhere.",
        "give at least one backend or target a weight above 0",
    ),
    semantic(
        "missing-hash-on",
        Error,
        "An upstream uses `consistent-hash` balancing without `hashOn`.",
        "set `loadBalancing.hashOn` to `consumer`, `client-ip` or `{header: NAME}`",
    ),
    semantic(
        "invalid-host",
        Error,
        "A host name is malformed, or uses a wildcard other than a leading `*.` label.",
        "write a DNS name such as `api.example.com` (routes and certificates may use `*.example.com`), without port or scheme",
    ),
    semantic(
        "invalid-listener-address",
        Error,
        "A listener address is not an IP socket address.",
        "write an IP address and port, for example `0.0.0.0:8080` or `[::]:8443`",
    ),
    semantic(
        "invalid-path-template",
        Error,
        "A route path template cannot be parsed.",
        "write segments such as `/users/{id}`, each parameter filling a whole segment",
    ),
    semantic(
        "unmatchable-path",
        Error,
        "A route's path has a part that no request path has after normalisation, so no request can match it.",
        "write the path as requests arrive after normalisation: one slash between segments, no `?` or `#`, no `.` or `..` segments, no `%2F` or `%00`, no segment that starts with `;`",
    ),
    semantic(
        "version-prefix-path",
        Warning,
        "A route's path starts with a segment that names an API version, so requests for that path are read as the version and the rest of the path.",
        "remove the version segment from the path and set the route's `version` instead, or turn off `settings.versioning.urlPrefix`",
    ),
    semantic(
        "invalid-header-name",
        Error,
        "A header name contains characters that HTTP does not allow.",
        "use letters, digits and `-` (RFC 9110 token characters)",
    ),
    semantic(
        "invalid-duration",
        Error,
        "A duration makes no sense: a zero timeout or window, a leeway over 5 minutes, a probe timeout not below its interval, a JWKS minimum cache time above the maximum.",
        "use a duration above zero such as `30s`; keep a JWT leeway at 5m or less, a probe timeout below its interval, and a JWKS minCacheTime at or below maxCacheTime",
    ),
    semantic(
        "timeout-order",
        Error,
        "A `total` timeout is shorter than the `response` timeout, so the response timeout can never fire.",
        "make `total` at least as long as `response`",
    ),
    semantic(
        "https-without-tls",
        Error,
        "An `https` listener has no `tls` certificates.",
        "add `tls.certificates`, or change the protocol to `http`",
    ),
    semantic("unused-upstream", Warning, "No route sends traffic to the upstream.", "route traffic to it, or remove it"),
    semantic(
        "plaintext-secret",
        Warning,
        "A string that is not a secret reference looks like a credential: a private key, a bearer token, a cloud access key, or a long random value in a header.",
        "move the value out of the spec and refer to it, or remove it; gatectl reads secrets only through `env:NAME` or `file:PATH` fields",
    ),
    semantic(
        "framing-header",
        Error,
        "A route's `requestHeaders` or `responseHeaders` sets a header that frames the message or describes the connection (`Content-Length`, `Transfer-Encoding`, `Connection`, `Upgrade` and the like).",
        "remove the entry: the gateway writes these headers for each hop",
    ),
    semantic(
        "unknown-path-parameter",
        Error,
        "A `${path.NAME}` placeholder in a route's request headers names no parameter of the route's path template, is mistyped, or sits in response headers.",
        "use a parameter of the route's `template` path, or remove the placeholder",
    ),
    semantic(
        "placeholder-host",
        Warning,
        "An upstream target or a JWKS URL uses a host under `.invalid`, a name that never resolves, such as the placeholders `gatectl import` writes.",
        "replace the placeholder with the real host, for example in an overlay for each environment",
    ),
    semantic(
        "tls-verify-disabled",
        Warning,
        "An upstream turns off verification of its targets' certificates.",
        "set `tls.verify: true` and give `tls.ca` for a private certificate authority",
    ),
    semantic(
        "sunset-in-past",
        Warning,
        "A route's deprecation sunset date has passed, yet the route is still served.",
        "remove the route, or move the sunset date",
    ),
    semantic("deprecation-order", Error, "A route's deprecation `since` date is after its `sunset` date.", "set `since` before `sunset`"),
];

/// Id of the rule whose findings contain a secret; renderers hide the value of its findings.
pub const PLAINTEXT_SECRET: &str = "plaintext-secret";

/// Returns the rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

/// Runs every semantic rule on a spec, then applies the configuration: rules set to `off` are
/// dropped and the others take the configured severity. Findings come in document order of the
/// rules that produced them, not sorted by position.
pub fn check(spec: &Spec, index: &LocationIndex, config: &RuleConfig) -> Vec<Diagnostic> {
    let mut context = Context { spec, index, now: config.now.unwrap_or_else(Utc::now), findings: Vec::new() };
    references::check(&mut context);
    duplicates::check(&mut context);
    shape::check(&mut context);
    values::check(&mut context);
    routing::check(&mut context);
    secrets::check(&mut context);
    context.findings.into_iter().filter_map(|finding| config.apply(finding)).collect()
}

/// What every rule reads, and where findings collect.
struct Context<'a> {
    spec: &'a Spec,
    index: &'a LocationIndex,
    now: DateTime<Utc>,
    findings: Vec<Diagnostic>,
}

impl Context<'_> {
    /// Adds a finding of `rule` at the value under `pointer`, with the rule's default help.
    fn report(&mut self, rule_id: &'static str, message: impl Into<String>, pointer: &str) -> &mut Diagnostic {
        let span = self.index.value(pointer);
        self.report_at(rule_id, message, span)
    }

    /// Adds a finding of `rule` at the mapping key under `pointer`.
    fn report_key(&mut self, rule_id: &'static str, message: impl Into<String>, pointer: &str) -> &mut Diagnostic {
        let span = self.index.key(pointer);
        self.report_at(rule_id, message, span)
    }

    fn report_at(&mut self, rule_id: &'static str, message: impl Into<String>, span: Option<Span>) -> &mut Diagnostic {
        let known = rule(rule_id);
        debug_assert!(known.is_some(), "rule `{rule_id}` is missing from RULES");
        let severity = known.map_or(Severity::Error, |rule| rule.severity);
        let mut diagnostic = Diagnostic::new(rule_id, severity, message).at(span);
        diagnostic.help = known.map(|rule| rule.help.to_owned());
        self.findings.push(diagnostic);
        self.findings.last_mut().expect("pushed above")
    }
}

/// Builds a JSON pointer from tokens, escaping each one.
fn pointer(tokens: &[&str]) -> String {
    let mut pointer = String::new();
    for token in tokens {
        pointer.push('/');
        pointer.push_str(&escape_pointer_token(token));
    }
    pointer
}

/// Describes a pointer for a message, such as `routes[2].upstream`.
fn describe(pointer: &str) -> String {
    crate::schema::describe(pointer)
}

/// Returns the candidate closest to `name` when it is a likely typo (edit distance at most 2).
fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(first: &str, second: &str) -> usize {
    let second: Vec<char> = second.chars().collect();
    let mut previous: Vec<usize> = (0..=second.len()).collect();
    for (row, first_char) in first.chars().enumerate() {
        let mut current = vec![row + 1];
        for (column, second_char) in second.iter().enumerate() {
            let substitution = previous[column] + usize::from(first_char != *second_char);
            current.push(substitution.min(previous[column + 1] + 1).min(current[column] + 1));
        }
        previous = current;
    }
    previous[second.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique() {
        let mut ids: Vec<&str> = RULES.iter().map(|rule| rule.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("catalgo", ["catalog", "orders"]), Some("catalog"));
        assert_eq!(closest("payments", ["catalog", "orders"]), None);
    }
}
