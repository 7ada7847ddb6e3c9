//! `gatectl import` end to end: the real binary on small OpenAPI fixtures, its output loaded
//! back with `gatectl_spec`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gatectl_spec::Spec;
use gatectl_spec::model::{ApiKeyLocation, PathMatch, Route, UpstreamScheme};
use gatectl_spec::path_template::{PathTemplate, Segment};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(name)
}

fn gatectl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatectl")).args(args).output().expect("gatectl runs")
}

/// Imports fixtures and returns the loaded spec and standard error.
fn import(names: &[&str], extra: &[&str]) -> (Spec, String) {
    let paths: Vec<String> = names.iter().map(|name| fixture(name).display().to_string()).collect();
    let mut args = vec!["import"];
    args.extend(paths.iter().map(String::as_str));
    args.extend(extra);
    let output = gatectl(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "import failed: {stderr}");
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    let loaded = gatectl_spec::load::load_str("imported.yaml", &text);
    assert!(loaded.diagnostics.is_empty(), "{:?}\n{text}", loaded.diagnostics);
    (loaded.spec.expect("spec loads"), stderr)
}

fn route<'a>(spec: &'a Spec, path: &str) -> &'a Route {
    spec.routes.iter().find(|route| route.matcher.path.value() == path).unwrap_or_else(|| panic!("no route for {path}"))
}

fn template_matches(template: &str, path: &str) -> bool {
    let template = PathTemplate::parse(template).expect("valid template");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    parts.len() == template.segments.len()
        && template.segments.iter().zip(&parts).all(|(segment, part)| match segment {
            Segment::Literal(text) => text == part,
            Segment::Parameter(_) => !part.is_empty(),
        })
}

#[test]
fn operation_servers_give_two_upstreams() {
    let (spec, _) = import(&["operation-servers.yaml"], &[]);
    assert_eq!(spec.upstreams.len(), 2, "{:?}", spec.upstreams);
    let users = &spec.upstreams[0];
    assert_eq!(users.targets[0].host, "users.internal.example");
    assert_eq!(users.targets[0].port, 8443);
    assert_eq!(users.scheme, UpstreamScheme::Https);
    let orders = &spec.upstreams[1];
    assert_eq!(orders.targets[0].host, "orders.internal.example");
    assert_eq!(orders.targets[0].port, 443);
    assert_eq!(route(&spec, "/users").upstream.as_deref(), Some(users.name.as_str()));
    assert_eq!(route(&spec, "/orders").upstream.as_deref(), Some(orders.name.as_str()));
    assert_eq!(route(&spec, "/orders/{id}").upstream.as_deref(), Some(orders.name.as_str()));
    for upstream in &spec.upstreams {
        assert!(spec.routes.iter().any(|route| route.upstream.as_deref() == Some(&upstream.name)), "{} has no route", upstream.name);
    }
}

#[test]
fn no_server_warns_and_uses_placeholder() {
    let (spec, stderr) = import(&["no-server.yaml"], &[]);
    assert_eq!(spec.upstreams.len(), 1);
    assert_eq!(spec.upstreams[0].targets[0].host, "replace-me.invalid");
    assert!(stderr.contains("warning[no-server]"), "{stderr}");
    assert!(stderr.contains("GET /ping"), "{stderr}");
    assert!(stderr.contains("GET /status"), "{stderr}");
    assert!(stderr.contains(&format!("they use upstream `{}` with the placeholder target", spec.upstreams[0].name)), "{stderr}");
}

#[test]
fn server_variables_and_relative_servers() {
    let (spec, stderr) = import(&["server-variables.yaml"], &[]);
    let things = spec.upstream(route(&spec, "/things").upstream.as_deref().unwrap()).unwrap();
    assert_eq!(things.targets[0].host, "eu.api.example");
    assert_eq!(things.base_path, "/v1");
    let local = spec.upstream(route(&spec, "/local").upstream.as_deref().unwrap()).unwrap();
    assert_eq!(local.base_path, "/api");
    assert_eq!(local.targets[0].host, "replace-me.invalid");
    assert!(stderr.contains("warning[relative-server]"), "{stderr}");
    assert!(stderr.contains(&format!("set `targets` of upstream `{}`", local.name)), "{stderr}");
}

#[test]
fn parameter_names_of_any_spelling_match() {
    let (spec, stderr) = import(&["parameter-names.yaml"], &[]);
    assert!(!stderr.contains("warning["), "{stderr}");
    let long = "aVeryLongParameterNameOfFortyCharacters0";
    assert_eq!(long.len(), 40);
    let cases = [
        ("/items/{item-id}", "/items/42", "item-id"),
        ("/files/{file.name}", "/files/a.txt", "file.name"),
        ("/cities/{città}", "/cities/roma", "città"),
        (&format!("/long/{{{long}}}"), "/long/x", long),
    ];
    for (template, request, name) in cases {
        let route = route(&spec, template);
        assert_eq!(route.matcher.path, PathMatch::Template(template.to_owned()));
        assert!(template_matches(template, request), "{template} does not match {request}");
        let recorded = route.metadata.get("openapi.pathParameters").unwrap();
        assert_eq!(recorded, &serde_json::to_string(&[name]).unwrap());
    }
}

#[test]
fn security_requirements_map_or_and_scopes() {
    let (spec, stderr) = import(&["security.yaml"], &[]);
    let requirement = |path: &str| route(&spec, path).security.clone();
    let entry = |pairs: &[(&str, &[&str])]| -> gatectl_spec::model::SecurityRequirement {
        pairs.iter().map(|(name, scopes)| (name.to_string(), scopes.iter().map(|scope| scope.to_string()).collect())).collect()
    };
    assert_eq!(requirement("/reports"), vec![entry(&[("oidc", &["reports:list", "reports:read"])])]);
    assert!(requirement("/status").is_empty());
    assert_eq!(requirement("/export"), vec![entry(&[("bearer", &[])]), entry(&[("key", &[])])]);
    assert_eq!(requirement("/audit"), vec![entry(&[("bearer", &[]), ("key", &[])])]);
    assert_eq!(requirement("/profile"), vec![entry(&[("bearer", &[])])]);
    assert_eq!(requirement("/orders"), vec![entry(&[("oauth", &["orders:write"])])]);
    assert_eq!(requirement("/cookie"), vec![entry(&[("session", &[])]), entry(&[("token", &[])])]);

    let key = spec.auth_provider("key").unwrap().api_key.clone().unwrap();
    assert_eq!((key.location, key.name.as_str()), (ApiKeyLocation::Header, "X-API-Key"));
    assert_eq!(spec.auth_provider("session").unwrap().api_key.as_ref().unwrap().location, ApiKeyLocation::Cookie);
    assert_eq!(spec.auth_provider("token").unwrap().api_key.as_ref().unwrap().location, ApiKeyLocation::Query);
    for jwt in ["bearer", "oidc", "oauth"] {
        let provider = spec.auth_provider(jwt).unwrap().jwt.clone().unwrap();
        assert_eq!(provider.issuer.as_deref(), Some("https://issuer.invalid/replace-me"), "{jwt}");
    }
    assert!(stderr.contains("warning[placeholder-jwt-provider]"), "{stderr}");

    // Unsupported schemes never make a route public: they require a provider that rejects all.
    assert_eq!(requirement("/legacy"), vec![entry(&[("basic", &[])])]);
    assert!(stderr.contains("`basic` (HTTP basic) cannot be enforced"), "{stderr}");
    assert_eq!(requirement("/machines"), vec![entry(&[("mtls", &[])])]);
    assert!(stderr.contains("warning[unsupported-mutual-tls]"), "{stderr}");
}

#[test]
fn swagger_two_maps_host_and_base_path() {
    let (spec, stderr) = import(&["swagger2.yaml"], &[]);
    assert_eq!(spec.upstreams.len(), 1);
    let upstream = &spec.upstreams[0];
    assert_eq!(upstream.scheme, UpstreamScheme::Http);
    assert_eq!((upstream.targets[0].host.as_str(), upstream.targets[0].port), ("legacy.example", 8080));
    assert_eq!(upstream.base_path, "/v2");
    let get = spec.routes.iter().find(|route| route.name == "getPetById").unwrap();
    assert_eq!(get.security.len(), 1);
    assert!(get.security[0].contains_key("api_key"));
    assert!(stderr.contains("warning[unsupported-security-scheme]"), "{stderr}");
    assert_eq!(spec.routes.iter().find(|route| route.name == "deletePet").unwrap().security[0].keys().next().unwrap(), "basicAuth");
}

#[test]
fn openapi_three_one_json_with_path_item_reference() {
    let (spec, _) = import(&["openapi31.json"], &[]);
    assert_eq!(spec.routes.len(), 1);
    assert_eq!(spec.routes[0].name, "getWidget");
    assert_eq!(spec.routes[0].matcher.path, PathMatch::Template("/widgets/{id}".to_owned()));
}

#[test]
fn external_and_cyclic_references() {
    let (spec, stderr) = import(&["external-refs.yaml"], &[]);
    let account = route(&spec, "/accounts/{accountId}");
    assert_eq!(account.name, "getAccount");
    assert!(!stderr.contains("undeclared-path-parameter"), "{stderr}");
    assert!(spec.routes.iter().all(|route| route.matcher.path.value() != "/loop"));
    let cycle = stderr.lines().find(|line| line.contains("`$ref` cycle")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(cycle.contains("external-refs.yaml:8:5"), "{cycle}");
}

#[test]
fn remote_reference_is_rejected() {
    let output = gatectl(&["import", &fixture("remote-ref.yaml").display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("remote-ref.yaml:8:33"), "{stderr}");
    assert!(stderr.contains("--allow-remote-refs"), "{stderr}");

    let (spec, stderr) = import(&["remote-ref.yaml"], &["--allow-remote-refs"]);
    assert_eq!(spec.routes.len(), 1);
    assert!(stderr.contains("warning[remote-reference]"), "{stderr}");
}

#[test]
fn two_files_merge_and_report_conflicts() {
    let (spec, stderr) = import(&["users.yaml", "orders.yaml"], &[]);
    let names: Vec<&str> = spec.routes.iter().map(|route| route.name.as_str()).collect();
    assert_eq!(names, vec!["getExample", "getExample-2"]);
    let upstreams: Vec<&str> = spec.upstreams.iter().map(|upstream| upstream.name.as_str()).collect();
    assert_eq!(upstreams, vec!["users.users.example", "orders.orders.example"]);
    assert_eq!(spec.upstreams[1].tags, vec!["openapi:orders"]);
    assert!(stderr.contains("warning[route-name-conflict]"), "{stderr}");
    let conflict = stderr.lines().find(|line| line.contains("warning[route-conflict]")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(conflict.contains("users.yaml:7:20"), "{conflict}");
    assert!(conflict.contains("orders.yaml:7:20"), "{conflict}");
}

#[test]
fn deprecated_tags_and_extensions() {
    let (spec, stderr) = import(&["extensions.yaml"], &[]);
    let old = spec.routes.iter().find(|route| route.name == "oldThing").unwrap();
    assert!(old.deprecation.is_some());
    assert_eq!(old.deprecation.as_ref().unwrap().since, None);
    assert_eq!(old.tags, vec!["legacy", "things", "team-root"]);
    assert_eq!(old.rate_limits, vec!["default"]);

    let get = spec.routes.iter().find(|route| route.name == "custom-get").unwrap();
    assert_eq!(get.tags, vec!["team-path"]);
    let post = spec.routes.iter().find(|route| route.name == "make-custom").unwrap();
    assert_eq!(post.tags, vec!["team-operation"]);
    assert_eq!(post.rate_limits, vec!["writes", "burst"]);
    assert_eq!(post.timeouts.as_ref().unwrap().response.unwrap().to_string(), "10s");
    let backend = spec.upstream(post.upstream.as_deref().unwrap()).unwrap();
    assert_eq!(backend.name, "custom-backend");
    assert_eq!((backend.targets[0].host.as_str(), backend.targets[0].port), ("127.0.0.1", 9100));
    assert_eq!(backend.timeouts.connect.to_string(), "1s");
    assert_eq!(get.upstream.as_deref(), Some("ext.example"));

    assert!(stderr.contains("warning[unknown-extension]: `x-gatectl-timeout`"), "{stderr}");
    let invalid = stderr.lines().find(|line| line.contains("`x-gatectl-timeouts` is ignored")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(invalid.contains("extensions.yaml:29:27"), "{invalid}");
}

#[test]
fn import_is_deterministic() {
    for names in [&["security.yaml"][..], &["users.yaml", "orders.yaml"], &["extensions.yaml"]] {
        let args: Vec<String> = names.iter().map(|name| fixture(name).display().to_string()).collect();
        let run = || {
            let mut all = vec!["import"];
            all.extend(args.iter().map(String::as_str));
            gatectl(&all)
        };
        let (first, second) = (run(), run());
        assert_eq!(first.stdout, second.stdout);
        assert_eq!(first.stderr, second.stderr);
    }
}

#[test]
fn output_file_has_header_and_validates() {
    let directory = tempfile::tempdir().unwrap();
    let output = directory.path().join("spec.yaml");
    let status = gatectl(&["import", &fixture("security.yaml").display().to_string(), "--output", &output.display().to_string()]);
    assert!(status.status.success());
    let text = std::fs::read_to_string(&output).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema="), "{text}");
    assert!(text.contains("Do not edit"), "{text}");
    let validate = gatectl(&["validate", &output.display().to_string()]);
    assert!(validate.status.success(), "{}", String::from_utf8_lossy(&validate.stderr));
    // The schema that the comment names is not beside the output, so a note explains how to write it.
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("note: the $schema comment names gateway.v1.schema.json"), "{stderr}");

    std::fs::write(directory.path().join("gateway.v1.schema.json"), "{}").unwrap();
    let again = gatectl(&["import", &fixture("security.yaml").display().to_string(), "--output", &output.display().to_string()]);
    assert!(!String::from_utf8_lossy(&again.stderr).contains("$schema comment"), "no note once the schema is there");
}

#[test]
fn overlay_replaces_placeholder_target() {
    let directory = tempfile::tempdir().unwrap();
    let output = directory.path().join("spec.yaml");
    let overlay = directory.path().join("prod.yaml");
    gatectl(&["import", &fixture("no-server.yaml").display().to_string(), "-o", &output.display().to_string()]);
    std::fs::write(&overlay, "upstreams:\n  - name: placeholder\n    targets: [{host: 127.0.0.1, port: 9000}]\n").unwrap();
    let loaded =
        gatectl_spec::load::load(&[output], &gatectl_spec::load::LoadOptions { overlays: vec![overlay], ..Default::default() }).unwrap();
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    assert_eq!(loaded.spec.unwrap().upstreams[0].targets[0].host, "127.0.0.1");
}

#[test]
fn json_output_and_json_warnings() {
    let output = gatectl(&["import", &fixture("no-server.yaml").display().to_string(), "--format", "json", "--warnings-format", "json"]);
    assert!(output.status.success());
    let spec: Spec = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(spec.routes.len(), 2);
    let stderr = String::from_utf8(output.stderr).unwrap();
    let json_end = stderr.rfind(']').unwrap() + 1;
    let warnings: serde_json::Value = serde_json::from_str(&stderr[..json_end]).unwrap();
    assert_eq!(warnings[0]["code"], "no-server");
    assert_eq!(warnings[0]["line"], 4);
    assert_eq!(warnings[0]["column"], 3);
    assert!(warnings[0]["file"].as_str().unwrap().ends_with("no-server.yaml"));
    assert!(stderr.contains("imported 2 routes, 1 upstream and "), "{stderr}");
}

#[test]
fn example_openapi_imports_cleanly() {
    let (spec, _) = import(&["../../../../examples/openapi/blockfrost.yaml"], &[]);
    assert!(spec.routes.len() >= 100, "{}", spec.routes.len());
    assert!(spec.auth_provider("project_id").is_some());
}

/// Imports one fixture with JSON warnings into a file and returns the output path, the
/// warnings and the directory that holds the output.
fn import_to_file(name: &str) -> (PathBuf, Vec<serde_json::Value>, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let output = directory.path().join("spec.yaml");
    let run = gatectl(&["import", &fixture(name).display().to_string(), "-o", &output.display().to_string(), "--warnings-format", "json"]);
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(run.status.success(), "{stderr}");
    let json_end = stderr.rfind(']').unwrap() + 1;
    let warnings: Vec<serde_json::Value> = serde_json::from_str(&stderr[..json_end]).unwrap();
    (output, warnings, directory)
}

fn warnings_with_code<'a>(warnings: &'a [serde_json::Value], code: &str) -> Vec<&'a serde_json::Value> {
    warnings.iter().filter(|warning| warning["code"] == code).collect()
}

#[test]
fn widened_route_yields_to_exact_route() {
    let (spec, _) = import(&["partial-segment-collision.json"], &[]);
    let names: Vec<&str> = spec.routes.iter().map(|route| route.name.as_str()).collect();
    assert!(names.contains(&"compare-basehead"), "{names:?}");
    assert!(names.contains(&"diff-range"), "{names:?}");
    assert!(!names.contains(&"compare-two-refs"), "{names:?}");
    assert!(!names.contains(&"diff-from-to"), "{names:?}");
    assert_eq!(route(&spec, "/files/{name}").name, "get-file");
    assert_eq!(spec.routes.len(), 3, "{names:?}");
}

#[test]
fn widened_route_warning_names_both_places() {
    let (_, warnings, _directory) = import_to_file("partial-segment-collision.json");
    let dropped = warnings_with_code(&warnings, "widened-route-dropped");
    assert_eq!(dropped.len(), 2, "{warnings:#?}");

    // The widened operation comes first in the file: it is removed when the exact one arrives.
    let compare = dropped.iter().find(|warning| warning["message"].as_str().unwrap().contains("/compare/{base}...{head}")).unwrap();
    assert_eq!((compare["line"].as_u64(), compare["column"].as_u64()), (Some(8), Some(24)));
    let message = compare["message"].as_str().unwrap();
    assert!(message.contains("partial-segment-collision.json:18:24"), "{message}");
    assert!(message.contains("partial-segment-collision.json:8:24"), "{message}");

    // The widened operation comes second: it is never added.
    let diff = dropped.iter().find(|warning| warning["message"].as_str().unwrap().contains("/diff/{from}..{to}")).unwrap();
    assert_eq!((diff["line"].as_u64(), diff["column"].as_u64()), (Some(32), Some(24)));
    assert!(diff["message"].as_str().unwrap().contains("partial-segment-collision.json:25:24"), "{}", diff["message"]);

    assert!(warnings_with_code(&warnings, "route-conflict").is_empty(), "{warnings:#?}");
}

#[test]
fn widened_route_collision_validates() {
    let (output, _, _directory) = import_to_file("partial-segment-collision.json");
    let validate = gatectl(&["validate", &output.display().to_string()]);
    assert!(validate.status.success(), "{}", String::from_utf8_lossy(&validate.stderr));
}

#[test]
fn swagger_operation_schemes_give_upstreams() {
    let (spec, _) = import(&["swagger2-operation-schemes.yaml"], &[]);
    assert_eq!(spec.upstreams.len(), 2, "{:?}", spec.upstreams);
    let upstream_of = |name: &str| {
        let route = spec.routes.iter().find(|route| route.name == name).unwrap_or_else(|| panic!("no route {name}"));
        spec.upstreams.iter().find(|upstream| Some(upstream.name.as_str()) == route.upstream.as_deref()).unwrap()
    };

    let document = upstream_of("listReports");
    assert_eq!(document.scheme, UpstreamScheme::Https);
    assert_eq!(document.targets[0].port, 443);

    let plain = upstream_of("uploadReport");
    assert_eq!(plain.scheme, UpstreamScheme::Http);
    assert_eq!((plain.targets[0].host.as_str(), plain.targets[0].port), ("api.example.com", 80));
    assert_eq!(plain.base_path, "/v1");

    // https is preferred when an operation lists both, as for the document's `schemes`.
    assert_eq!(upstream_of("deleteReports").name, document.name);
    assert_eq!(upstream_of("replaceReports").name, document.name);
}

#[test]
fn swagger_empty_operation_schemes_warn() {
    let (_, warnings, _directory) = import_to_file("swagger2-operation-schemes.yaml");
    let invalid = warnings_with_code(&warnings, "invalid-schemes");
    assert_eq!(invalid.len(), 1, "{warnings:#?}");
    assert_eq!((invalid[0]["line"].as_u64(), invalid[0]["column"].as_u64()), (Some(21), Some(16)));
}

#[test]
fn swagger_schemes_without_host_warn() {
    let (_, warnings, _directory) = import_to_file("swagger2-schemes-without-host.yaml");
    let ignored = warnings_with_code(&warnings, "ignored-schemes");
    assert_eq!(ignored.len(), 1, "{warnings:#?}");
    assert!(ignored[0]["file"].as_str().unwrap().ends_with("swagger2-schemes-without-host.yaml"));
    assert_eq!((ignored[0]["line"].as_u64(), ignored[0]["column"].as_u64()), (Some(8), Some(16)));
}

#[test]
fn json_duplicate_key_is_located() {
    let output = gatectl(&["import", &fixture("json-with-duplicate-key.json").display().to_string()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("json-with-duplicate-key.json:5:3"), "{stderr}");
    assert!(stderr.contains("duplicate key `info`"), "{stderr}");
}

#[test]
fn flow_style_yaml_in_json_file_reads() {
    let (spec, _) = import(&["flow-style-yaml.json"], &[]);
    assert_eq!(spec.routes.len(), 1);
    assert_eq!(spec.upstreams[0].targets[0].host, "flow.example");
}

#[test]
fn closed_output_pipe_ends_import_quietly() {
    let description = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/openapi/blockfrost.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .arg("import")
        .arg(&description)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the import writes its spec, as `| head` does once it has read
    // enough.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn malformed_parameters_warn_at_the_list() {
    let (spec, stderr) = import(&["malformed-parameters.yaml"], &[]);

    assert!(stderr.contains("malformed-parameters.yaml:8:19: warning[invalid-parameters]"), "{stderr}");
    assert!(stderr.contains("`parameters` must be a list of parameter objects, found a number"), "{stderr}");
    assert_eq!(route(&spec, "/items/{id}").name, "getItem", "the route is still imported");
}

#[test]
fn non_ascii_path_name_is_warned() {
    let directory = tempfile::tempdir().unwrap();
    let input = directory.path().join("cities.yaml");
    std::fs::write(
        &input,
        "openapi: 3.0.3\ninfo: {title: Cities, version: \"1\"}\nservers: [{url: \"http://127.0.0.1:9000\"}]\npaths:\n  /città/{id}:\n    get:\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n      responses: {\"200\": {description: ok}}\n",
    )
    .unwrap();
    let output = directory.path().join("spec.yaml");

    let run = gatectl(&["import", &input.display().to_string(), "-o", &output.display().to_string(), "--warnings-format", "json"]);

    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(run.status.success(), "{stderr}");
    let json_end = stderr.rfind(']').unwrap() + 1;
    let warnings: Vec<serde_json::Value> = serde_json::from_str(&stderr[..json_end]).unwrap();
    let renamed = warnings_with_code(&warnings, "renamed-route");
    assert_eq!(renamed.len(), 1, "{warnings:?}");
    assert!(renamed[0]["message"].as_str().unwrap().contains("`get-citt-id`"), "{:?}", renamed[0]);
}
