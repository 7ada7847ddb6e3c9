//! Values the JSON Schema cannot judge: host names, socket addresses, path templates, header
//! names and durations.

use std::net::{IpAddr, SocketAddr};

use crate::duration::Duration;
use crate::model::{HashOn, PathMatch, Timeouts};
use crate::path_template::PathTemplate;
use crate::request_path::{self, EscapeError};

use super::{Context, pointer};

/// Largest JWT leeway that still makes sense: clocks drifting more than this need fixing.
const MAX_LEEWAY: Duration = Duration::from_secs(300);

pub(super) fn check(context: &mut Context<'_>) {
    check_routes(context);
    check_upstreams(context);
    check_settings(context);
    check_auth_providers(context);
    check_policies(context);
}

/// Returns whether `host` is a DNS name, or an IP address when `allow_ip` is set. With
/// `allow_wildcard`, a leading `*.` label is accepted too.
pub(super) fn is_valid_host(host: &str, allow_wildcard: bool, allow_ip: bool) -> bool {
    if allow_ip && host.parse::<IpAddr>().is_ok() {
        return true;
    }
    let name = match host.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => host,
    };
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
    })
}

/// Returns whether `name` is an HTTP field name (an RFC 9110 token).
pub(super) fn is_valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

fn host_help(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') && host.parse::<IpAddr>().is_err() {
        return "remove the port: hosts are compared without port".to_owned();
    }
    if host.contains("://") {
        return "remove the scheme: write only the host name".to_owned();
    }
    if host.contains('*') {
        return "a wildcard may only be a whole leading label, as in `*.example.com`".to_owned();
    }
    "write a DNS name of letters, digits, `-` and `.`, such as `api.example.com`".to_owned()
}

fn report_host(context: &mut Context<'_>, host: &str, owner: &str, at: &str) {
    let help = host_help(host);
    context.report("invalid-host", format!("invalid host name `{host}` in {owner}"), at).help = Some(help);
}

fn report_header(context: &mut Context<'_>, name: &str, at: &str, is_key: bool) {
    let message = format!("invalid header name `{name}`");
    if is_key {
        context.report_key("invalid-header-name", message, at);
    } else {
        context.report("invalid-header-name", message, at);
    }
}

/// Names the first part of a route path that no normalised request path can have. Such parts
/// are `//`, a `?` or `#`, a `.` or `..` segment (also as `%2e`), a segment that starts with path
/// parameters, an encoded slash or NUL, and an invalid escape. Segments of a template that hold
/// a parameter are skipped. `None` for a path that requests can match.
fn unnormalised_part(path: &str) -> Option<String> {
    if path.contains("//") {
        return Some("`//`".to_owned());
    }
    if let Some(mark) = path.chars().find(|character| matches!(character, '?' | '#')) {
        return Some(format!("a `{mark}`"));
    }
    for segment in path.split('/').filter(|segment| !segment.contains('{')) {
        let canonical = match request_path::canonical_escapes(segment) {
            Ok(canonical) => canonical,
            Err(error) => {
                let escape = error.escape(segment);
                return Some(match error {
                    EscapeError::Invalid(_) => format!("an invalid escape (`{escape}`)"),
                    EscapeError::EncodedSlash(_) => format!("an encoded slash (`{escape}`)"),
                    EscapeError::EncodedNul(_) => format!("an encoded NUL (`{escape}`)"),
                });
            }
        };
        if matches!(&*canonical, "." | "..") {
            return Some(format!("a `{segment}` segment"));
        }
        if request_path::is_parameter_segment(&canonical) {
            return Some(format!("a segment that requests are rejected for (`{segment}`)"));
        }
    }
    None
}

fn check_routes(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, route) in spec.routes.iter().enumerate() {
        let index = index.to_string();
        for (host_index, host) in route.matcher.hosts.iter().enumerate() {
            if !is_valid_host(host, true, true) {
                let at = pointer(&["routes", &index, "match", "hosts", &host_index.to_string()]);
                report_host(context, host, &format!("route `{}`", route.name), &at);
            }
        }
        let mut invalid_template = false;
        if let PathMatch::Template(template) = &route.matcher.path
            && let Err(error) = PathTemplate::parse(template)
        {
            let at = pointer(&["routes", &index, "match", "path", "template"]);
            context.report("invalid-path-template", format!("invalid path template `{template}`: {error}"), &at);
            invalid_template = true;
        }
        let (kind, path) = match &route.matcher.path {
            PathMatch::Exact(path) => ("exact", path),
            PathMatch::Prefix(path) => ("prefix", path),
            PathMatch::Template(path) => ("template", path),
        };
        // A template that does not parse has had its finding; a second about the same text
        // would only repeat it.
        if !invalid_template && let Some(problem) = unnormalised_part(path) {
            let at = pointer(&["routes", &index, "match", "path", kind]);
            let encoded = match problem.as_str() {
                "a `?`" => Some(("?", "%3F")),
                "a `#`" => Some(("#", "%23")),
                _ => None,
            };
            let message = if let Some((mark, escape)) = encoded {
                // Compiled as `%3F` or `%23`, it matches only a request that encodes it.
                format!(
                    "route `{}` matches only requests that send the `{mark}` in its path as `{escape}`: a raw `{mark}` starts the query or fragment, which routes do not match",
                    route.name
                )
            } else {
                format!(
                    "route `{}` can never match: its path `{path}` contains {problem}, which no normalised request path has",
                    route.name
                )
            };
            context.report("unmatchable-path", message, &at);
        }
        for (kind, changes) in [("requestHeaders", &route.request_headers), ("responseHeaders", &route.response_headers)] {
            for (position, name) in changes.remove.iter().enumerate() {
                if !is_valid_header_name(name) {
                    report_header(context, name, &pointer(&["routes", &index, kind, "remove", &position.to_string()]), false);
                }
            }
            for (section, map) in [("set", &changes.set), ("add", &changes.add)] {
                for name in map.keys().filter(|name| !is_valid_header_name(name)) {
                    report_header(context, name, &pointer(&["routes", &index, kind, section, name]), true);
                }
                for name in map.keys().filter(|name| FRAMING_HEADERS.iter().any(|framing| name.eq_ignore_ascii_case(framing))) {
                    let message = format!("route `{}` sets `{name}` in {kind}.{section}, a header the gateway sets itself", route.name);
                    context.report_key("framing-header", message, &pointer(&["routes", &index, kind, section, name]));
                }
            }
        }
        check_header_parameters(context, route, &index);
        if let Some(host) = &route.host_rewrite
            && !is_valid_host(host, false, true)
        {
            report_host(
                context,
                host,
                &format!("the host rewrite of route `{}`", route.name),
                &pointer(&["routes", &index, "hostRewrite"]),
            );
        }
        if let Some(timeouts) = &route.timeouts {
            for (field, value) in [("connect", timeouts.connect), ("response", timeouts.response), ("total", timeouts.total)] {
                if value.is_some_and(Duration::is_zero) {
                    let at = pointer(&["routes", &index, "timeouts", field]);
                    report_zero(context, format!("the {field} timeout of route `{}` is zero", route.name), &at);
                }
            }
            let upstream_timeouts = route.upstream.as_deref().and_then(|name| spec.upstream(name)).map(|upstream| &upstream.timeouts);
            let fallback = Timeouts::default();
            let upstream_timeouts = upstream_timeouts.unwrap_or(&fallback);
            let response = timeouts.response.unwrap_or(upstream_timeouts.response);
            let total = timeouts.total.unwrap_or(upstream_timeouts.total);
            if (timeouts.response.is_some() || timeouts.total.is_some()) && total < response {
                let field = if timeouts.total.is_some() { "total" } else { "response" };
                let message =
                    format!("the total timeout of route `{}` ({total}) is shorter than its response timeout ({response})", route.name);
                context.report("timeout-order", message, &pointer(&["routes", &index, "timeouts", field]));
            }
        }
    }
}

fn check_upstreams(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, upstream) in spec.upstreams.iter().enumerate() {
        let index = index.to_string();
        for (target_index, target) in upstream.targets.iter().enumerate() {
            let at = pointer(&["upstreams", &index, "targets", &target_index.to_string(), "host"]);
            if !is_valid_host(&target.host, false, true) {
                report_host(context, &target.host, &format!("a target of upstream `{}`", upstream.name), &at);
            } else if is_placeholder_host(&target.host) {
                let message = format!("upstream `{}` has target `{}`, a placeholder host that never resolves", upstream.name, target.host);
                context.report("placeholder-host", message, &at);
            }
        }
        if let Some(sni) = &upstream.tls.sni
            && !is_valid_host(sni, false, false)
        {
            report_host(context, sni, &format!("the SNI of upstream `{}`", upstream.name), &pointer(&["upstreams", &index, "tls", "sni"]));
        }
        let timeouts = &upstream.timeouts;
        for (field, value) in [("connect", timeouts.connect), ("response", timeouts.response), ("total", timeouts.total)] {
            if value.is_zero() {
                let at = pointer(&["upstreams", &index, "timeouts", field]);
                report_zero(context, format!("the {field} timeout of upstream `{}` is zero", upstream.name), &at);
            }
        }
        if timeouts.total < timeouts.response {
            let message = format!(
                "the total timeout of upstream `{}` ({}) is shorter than its response timeout ({})",
                upstream.name, timeouts.total, timeouts.response
            );
            context.report("timeout-order", message, &pointer(&["upstreams", &index, "timeouts", "total"]));
        }
        if let Some(HashOn::Header(name)) = &upstream.load_balancing.hash_on
            && !is_valid_header_name(name)
        {
            report_header(context, name, &pointer(&["upstreams", &index, "loadBalancing", "hashOn", "header"]), false);
        }
        if let Some(active) = &upstream.health_checks.active {
            let probe = |field: &str| pointer(&["upstreams", &index, "healthChecks", "active", field]);
            if active.interval.is_zero() {
                report_zero(context, format!("the probe interval of upstream `{}` is zero", upstream.name), &probe("interval"));
            } else if active.timeout.is_zero() || active.timeout >= active.interval {
                let message = format!(
                    "the probe timeout of upstream `{}` ({}) must be above zero and below the probe interval ({})",
                    upstream.name, active.timeout, active.interval
                );
                context.report("invalid-duration", message, &probe("timeout"));
            }
        }
        if let Some(passive) = &upstream.health_checks.passive
            && passive.ejection_time.is_zero()
        {
            let at = pointer(&["upstreams", &index, "healthChecks", "passive", "ejectionTime"]);
            report_zero(context, format!("the ejection time of upstream `{}` is zero", upstream.name), &at);
        }
    }
}

fn check_settings(context: &mut Context<'_>) {
    let settings = &context.spec.settings;
    for (index, listener) in settings.listeners.iter().enumerate() {
        let index = index.to_string();
        if listener.address.parse::<SocketAddr>().is_err() {
            let message = format!("listener `{}` has an invalid address `{}`", listener.name, listener.address);
            context.report("invalid-listener-address", message, &pointer(&["settings", "listeners", &index, "address"]));
        }
        let certificates = listener.tls.iter().flat_map(|tls| tls.certificates.iter()).enumerate();
        for (certificate_index, certificate) in certificates {
            for (host_index, host) in certificate.hosts.iter().enumerate() {
                if !is_valid_host(host, true, true) {
                    let at = pointer(&[
                        "settings",
                        "listeners",
                        &index,
                        "tls",
                        "certificates",
                        &certificate_index.to_string(),
                        "hosts",
                        &host_index.to_string(),
                    ]);
                    report_host(context, host, &format!("a certificate of listener `{}`", listener.name), &at);
                }
            }
        }
    }
    let headers = [
        (&settings.request_id_header, pointer(&["settings", "requestIdHeader"])),
        (&settings.consumer_headers.id, pointer(&["settings", "consumerHeaders", "id"])),
        (&settings.consumer_headers.tier, pointer(&["settings", "consumerHeaders", "tier"])),
        (&settings.versioning.header, pointer(&["settings", "versioning", "header"])),
    ];
    for (name, at) in headers {
        if !is_valid_header_name(name) {
            report_header(context, name, &at, false);
        }
    }
    let limits = &settings.limits;
    for (field, value) in
        [("headerTimeout", limits.header_timeout), ("bodyTimeout", limits.body_timeout), ("idleTimeout", limits.idle_timeout)]
    {
        if value.is_zero() {
            report_zero(context, format!("`settings.limits.{field}` is zero"), &pointer(&["settings", "limits", field]));
        }
    }
}

fn check_auth_providers(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, provider) in spec.auth_providers.iter().enumerate() {
        let index = index.to_string();
        if let Some(api_key) = &provider.api_key
            && api_key.location == crate::model::ApiKeyLocation::Header
            && !is_valid_header_name(&api_key.name)
        {
            report_header(context, &api_key.name, &pointer(&["authProviders", &index, "apiKey", "name"]), false);
        }
        let Some(jwt) = &provider.jwt else { continue };
        if jwt.leeway > MAX_LEEWAY {
            let message = format!("the leeway of JWT provider `{}` ({}) is over {MAX_LEEWAY}", provider.name, jwt.leeway);
            context.report("invalid-duration", message, &pointer(&["authProviders", &index, "jwt", "leeway"])).help =
                Some("fix the clock drift instead; a leeway over 5m keeps expired tokens valid".to_owned());
        }
        for (claim, header) in &jwt.forward_claims {
            if !is_valid_header_name(header) {
                report_header(context, header, &pointer(&["authProviders", &index, "jwt", "forwardClaims", claim]), false);
            }
        }
        let Some(jwks) = &jwt.jwks else { continue };
        let jwks_pointer = |field: &str| pointer(&["authProviders", &index, "jwt", "jwks", field]);
        if crate::url_text::authority(&jwks.url).is_some_and(|(_, authority)| is_placeholder_host(crate::url_text::host(authority))) {
            let url = crate::normalize::redact_url(&jwks.url);
            let message = format!("JWT provider `{}` fetches its keys from `{url}`, a placeholder host that never resolves", provider.name);
            context.report("placeholder-host", message, &jwks_pointer("url"));
        }
        if jwks.timeout.is_zero() {
            report_zero(context, format!("the JWKS timeout of provider `{}` is zero", provider.name), &jwks_pointer("timeout"));
        }
        if jwks.min_cache_time > jwks.max_cache_time {
            let message = format!(
                "the JWKS minimum cache time of provider `{}` ({}) is above its maximum ({})",
                provider.name, jwks.min_cache_time, jwks.max_cache_time
            );
            context.report("invalid-duration", message, &jwks_pointer("minCacheTime"));
        }
    }
}

/// Reports path placeholders a route cannot fill: names that are no parameter of its template,
/// mistyped `${` sequences in request headers, and placeholders in response headers.
fn check_header_parameters(context: &mut Context<'_>, route: &crate::model::Route, index: &str) {
    let template = match &route.matcher.path {
        PathMatch::Template(text) => PathTemplate::parse(text).ok(),
        _ => None,
    };
    let names: Vec<&str> = template.as_ref().map(|template| template.parameter_names().collect()).unwrap_or_default();
    let changes = &route.request_headers;
    for (section, map) in [("set", &changes.set), ("add", &changes.add)] {
        for (header, value) in map {
            let parts = crate::header_template::parts(value);
            let placeholders = parts.iter().filter(|part| matches!(part, crate::header_template::ValuePart::Parameter(_))).count();
            if value.matches("${").count() > placeholders {
                let message =
                    format!("header `{header}` of route `{}` has a `${{` that does not start a `${{path.NAME}}` placeholder", route.name);
                context.report("unknown-path-parameter", message, &pointer(&["routes", index, "requestHeaders", section, header])).help =
                    Some("write placeholders as `${path.NAME}`, in lower case and closed with `}`".to_owned());
            }
            for part in parts {
                let crate::header_template::ValuePart::Parameter(name) = part else { continue };
                if names.contains(&name) {
                    continue;
                }
                let message = format!("`${{path.{name}}}` in header `{header}` of route `{}` is not a parameter of its path", route.name);
                let help = match names.first() {
                    Some(first) => format!("use one of the path's parameters, such as `${{path.{first}}}`"),
                    None => "only a `template` path has parameters; remove the placeholder or match the path with a template".to_owned(),
                };
                context.report("unknown-path-parameter", message, &pointer(&["routes", index, "requestHeaders", section, header])).help =
                    Some(help);
            }
        }
    }
    let changes = &route.response_headers;
    for (section, map) in [("set", &changes.set), ("add", &changes.add)] {
        for (header, _) in map.iter().filter(|(_, value)| value.contains("${path.")) {
            let message = format!("header `{header}` in the responseHeaders of route `{}` has a path placeholder", route.name);
            context.report("unknown-path-parameter", message, &pointer(&["routes", index, "responseHeaders", section, header])).help =
                Some("only requestHeaders values take `${path.NAME}`; write the value out here".to_owned());
        }
    }
}

/// Headers that frame a message or describe one connection. The gateway writes them for each
/// hop, so a route that set them could make the upstream or the client misread the message.
const FRAMING_HEADERS: [&str; 8] =
    ["connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// Reports a duration that is zero, with help for that case alone.
fn report_zero(context: &mut Context<'_>, message: String, at: &str) {
    context.report("invalid-duration", message, at).help = Some("use a duration above zero, such as `5s`".to_owned());
}

/// Tells whether a host lies under `.invalid`, which RFC 6761 reserves for names that never
/// resolve.
fn is_placeholder_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "invalid" || host.ends_with(".invalid")
}

fn check_policies(context: &mut Context<'_>) {
    let spec = context.spec;
    for (index, policy) in spec.rate_limit_policies.iter().enumerate() {
        let index = index.to_string();
        for (limit_index, limit) in policy.limits.iter().enumerate() {
            if limit.window.is_zero() {
                let at = pointer(&["rateLimitPolicies", &index, "limits", &limit_index.to_string(), "window"]);
                context.report("invalid-duration", format!("a limit of policy `{}` has a zero window", policy.name), &at);
            }
        }
        for (tier, limits) in &policy.tiers {
            for (limit_index, limit) in limits.iter().enumerate() {
                if limit.window.is_zero() {
                    let at = pointer(&["rateLimitPolicies", &index, "tiers", tier, &limit_index.to_string(), "window"]);
                    context.report(
                        "invalid-duration",
                        format!("a limit of policy `{}` for tier `{tier}` has a zero window", policy.name),
                        &at,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unnormalised_part;

    #[test]
    fn normal_paths_pass() {
        let paths =
            ["/", "/api", "/api/", "/caf%C3%A9", "/caf%c3%a9", "/café", "/my files", "/%7Euser", "/a;b/c", "/a..b/.c", "/users/{id}/x"];
        for path in paths {
            assert_eq!(unnormalised_part(path), None, "{path}");
        }
    }

    #[test]
    fn unnormalised_paths_are_named() {
        let cases = [
            ("/api//admin", "`//`"),
            ("/q?x=1", "a `?`"),
            ("/a#b", "a `#`"),
            ("/p%+1", "an invalid escape (`%+1`)"),
            ("/a/./b", "a `.` segment"),
            ("/a/..", "a `..` segment"),
            ("/t/%2e/{id}", "a `%2e` segment"),
            ("/a%2Fb", "an encoded slash (`%2F`)"),
            ("/a%00", "an encoded NUL (`%00`)"),
            ("/a%zz", "an invalid escape (`%zz`)"),
            ("/a%2", "an invalid escape (`%2`)"),
            ("/s/..;/b", "a segment that requests are rejected for (`..;`)"),
            ("/;x/admin", "a segment that requests are rejected for (`;x`)"),
        ];
        for (path, problem) in cases {
            assert_eq!(unnormalised_part(path).as_deref(), Some(problem), "{path}");
        }
    }
}
