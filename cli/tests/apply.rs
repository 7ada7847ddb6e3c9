//! `gatectl plan`, `apply`, `status`, `rollback` and `diff --live` through the real binary,
//! against real runtimes (`gatectl_runtime`, in this process) and a real echo upstream, all on
//! 127.0.0.1 with ephemeral ports.

mod command_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use command_support::{exit_code as code, gatectl, gatectl_with_closed_stderr, text};
use gatectl_runtime::admin::bundles::BundleOptions;
use gatectl_runtime::{RunningRuntime, Runtime, RuntimeOptions};
use gatectl_spec::bundle::TrustedKeys;

const TOKEN: &str = "apply-test-token";

/// Two runtimes that trust `keys/release.pub.json` in a temporary directory, an echo upstream
/// and a port where nothing listens.
struct Fleet {
    runtimes: Vec<RunningRuntime>,
    upstream: SocketAddr,
    dead_port: u16,
    directory: tempfile::TempDir,
    /// Runs the runtimes and the upstream; declared last so that it is dropped after them.
    _tokio: tokio::runtime::Runtime,
}

impl Fleet {
    fn start() -> Self {
        let directory = tempfile::tempdir().unwrap();
        let output = gatectl(&["keygen", "--out", "keys", "--id", "release"], directory.path());
        assert_eq!(code(&output), 0, "{}", text(&output.stderr));
        std::fs::write(directory.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let keys = TrustedKeys::from_path(&directory.path().join("keys/release.pub.json")).unwrap();

        let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (upstream, runtimes, dead_port) = tokio.block_on(async {
            let (upstream, _task) = gatectl_e2e::echo::spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let mut runtimes = Vec::new();
            for _ in 0..2 {
                let options = RuntimeOptions {
                    listen: vec!["127.0.0.1:0".parse().unwrap()],
                    admin_listen: Some("127.0.0.1:0".parse().unwrap()),
                    admin_token: Some(TOKEN.to_owned()),
                    access_log: Some(gatectl_runtime::observe::access_log::AccessLogTarget::Disabled),
                    drain_timeout: Duration::from_secs(2),
                    bundles: BundleOptions { trusted_keys: Some(keys.clone()), ..BundleOptions::default() },
                    ..RuntimeOptions::default()
                };
                runtimes.push(Runtime::start(options).await.unwrap());
            }
            let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
            (upstream, runtimes, dead)
        });
        Self { runtimes, upstream, dead_port, directory, _tokio: tokio }
    }

    fn path(&self) -> &Path {
        self.directory.path()
    }

    fn admin_url(&self, index: usize) -> String {
        format!("http://{}", self.runtimes[index].admin_address().unwrap())
    }

    fn proxy_url(&self, index: usize, path: &str) -> String {
        format!("http://{}{path}", self.runtimes[index].proxy_addresses()[0])
    }

    /// Writes a spec whose route `/svc` goes to `port`, plus the routes named in `extra`.
    fn write_spec(&self, file: &str, port: u16, extra: &[&str]) -> PathBuf {
        let mut spec = format!(
            "apiVersion: gatectl.dev/v1\nkind: Gateway\nupstreams:\n  - name: app\n    targets: [{{host: 127.0.0.1, port: {port}}}]\nroutes:\n  - name: svc\n    match: {{path: {{prefix: /svc}}}}\n    upstream: app\n"
        );
        for name in extra {
            spec.push_str(&format!("  - name: {name}\n    match: {{path: {{prefix: /{name}}}}}\n    upstream: app\n"));
        }
        let path = self.path().join(file);
        std::fs::write(&path, spec).unwrap();
        path
    }

    fn run(&self, arguments: &[&str]) -> Output {
        let mut all: Vec<&str> = arguments.to_vec();
        all.extend(["--admin-token-file", "token"]);
        gatectl(&all, self.path())
    }

    /// Plans `spec` for both runtimes, runtime 0 alone in the first wave.
    fn plan(&self, spec: &str, output: &str) -> Output {
        let (first, second) = (self.admin_url(0), self.admin_url(1));
        self.run(&["plan", spec, "--target", &first, "--target", &second, "--signing-key", "keys/release.key.pem", "-o", output])
    }

    fn apply(&self, plan: &str, window: &str) -> Output {
        self.run(&["apply", plan, "--observation-window", window, "--min-requests", "5", "--output", "json"])
    }

    fn status(&self, index: usize) -> serde_json::Value {
        let url = format!("{}/status", self.admin_url(index));
        reqwest::blocking::Client::builder().no_proxy().build().unwrap().get(url).bearer_auth(TOKEN).send().unwrap().json().unwrap()
    }

    fn get(&self, index: usize, path: &str) -> u16 {
        reqwest::blocking::Client::builder().no_proxy().build().unwrap().get(self.proxy_url(index, path)).send().unwrap().status().as_u16()
    }
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", text(&output.stdout)))
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn plan_apply_status_diff_and_rollback() {
    let fleet = Fleet::start();
    fleet.write_spec("v1.yaml", fleet.upstream.port(), &[]);

    let planned = fleet.plan("v1.yaml", "plan.json");
    assert_eq!(code(&planned), 0, "{}", text(&planned.stderr));
    let plan = read_json(&fleet.path().join("plan.json"));
    assert_eq!(plan["targets"][0]["kind"], "http");
    assert_eq!(plan["targets"][0]["live"], serde_json::Value::Null);
    assert_eq!(plan["bundle"]["file"], "plan.bundle.json");
    assert_eq!(plan["waves"].as_array().unwrap().len(), 2);

    let applied = fleet.apply("plan.json", "300ms");
    assert_eq!(code(&applied), 0, "{}", text(&applied.stderr));
    assert!(text(&applied.stderr).contains("wave 1: watching the health gate for 300ms, until "), "{}", text(&applied.stderr));
    let report = json(&applied);
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["waves"][0]["outcome"], "passed");
    assert_eq!(report["waves"][1]["outcome"], "passed");
    let v1_hash = plan["bundle"]["hash"].as_str().unwrap().to_owned();
    for index in 0..2 {
        assert_eq!(fleet.status(index)["hash"], v1_hash.as_str());
        assert_eq!(fleet.get(index, "/svc"), 200);
    }

    let (first, second) = (fleet.admin_url(0), fleet.admin_url(1));
    let status = fleet.run(&["status", "--target", &first, "--target", &second, "--spec", "v1.yaml", "--output", "json"]);
    assert_eq!(code(&status), 0, "{}", text(&status.stderr));
    let status = json(&status);
    assert_eq!(status[0]["version"], 1);
    assert_eq!(status[0]["hash"], v1_hash.as_str());
    assert!(status[1]["activatedAt"].is_string());
    assert_eq!(status[1]["drift"]["drifted"], false);
    assert_eq!(fleet.status(1)["config"]["hash"], status[1]["drift"]["specHash"], "the runtime reports the spec hash that status computes");

    // An unreachable target is reported beside the others instead of hiding them.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = format!("http://127.0.0.1:{closed_port}");
    let partial = fleet.run(&["status", "--target", &first, "--target", &unreachable, "--format", "json"]);
    assert_eq!(code(&partial), 2, "{}", text(&partial.stderr));
    let partial = json(&partial);
    assert_eq!(partial[0]["version"], 1);
    assert!(partial[1]["error"].as_str().is_some_and(|error| !error.is_empty()), "{partial:#}");

    let diff = fleet.run(&["diff", "--live", &first, "v1.yaml"]);
    assert_eq!(code(&diff), 0, "{}{}", text(&diff.stdout), text(&diff.stderr));

    fleet.write_spec("v2.yaml", fleet.upstream.port(), &["orders"]);
    let diff = fleet.run(&["diff", "--live", &first, "v2.yaml", "--format", "json"]);
    assert_eq!(code(&diff), 1, "{}", text(&diff.stderr));
    assert!(text(&diff.stdout).contains("orders"), "{}", text(&diff.stdout));
    let drift = fleet.run(&["status", "--target", &first, "--spec", "v2.yaml", "--output", "json"]);
    assert_eq!(code(&drift), 1, "{}", text(&drift.stderr));
    let drift = json(&drift);
    assert_eq!(drift[0]["drift"]["drifted"], true);
    assert_eq!(drift[0]["drift"]["summary"]["added"], 1);

    let planned = fleet.plan("v2.yaml", "plan2.json");
    assert_eq!(code(&planned), 0, "{}", text(&planned.stderr));
    let applied = fleet.apply("plan2.json", "300ms");
    assert_eq!(code(&applied), 0, "{}", text(&applied.stderr));
    assert_eq!(fleet.status(1)["version"], 2);
    assert_eq!(fleet.get(1, "/orders"), 200);

    // Every target is checked before any changes, so an unreachable one leaves the fleet whole.
    let rejected = fleet.run(&["rollback", "--target", &first, "--target", &unreachable, "--target", &second, "--output", "json"]);
    assert_eq!(code(&rejected), 2, "{}", text(&rejected.stderr));
    let outcomes = json(&rejected);
    assert_eq!(outcomes[0], serde_json::json!({"outcome": "notAttempted", "target": first}));
    assert_eq!(outcomes[1]["outcome"], "failed", "{outcomes:#}");
    assert_eq!(outcomes[1]["target"], unreachable.as_str());
    assert!(outcomes[1]["error"].as_str().is_some_and(|error| !error.is_empty()), "{outcomes:#}");
    assert_eq!(outcomes[2], serde_json::json!({"outcome": "notAttempted", "target": second}));
    assert!(text(&rejected.stderr).contains("nothing was rolled back"), "{}", text(&rejected.stderr));
    for index in 0..2 {
        assert_eq!(fleet.status(index)["version"], 2, "target {index} was changed");
    }

    // `--to` the active bundle changes nothing, and the output reports that.
    let v2_hash = fleet.status(0)["hash"].as_str().unwrap().to_owned();
    let unchanged = fleet.run(&["rollback", "--target", &format!("{first}/"), "--to", &v2_hash, "--output", "json"]);
    assert_eq!(code(&unchanged), 0, "{}", text(&unchanged.stderr));
    assert_eq!(
        json(&unchanged)[0],
        serde_json::json!({"outcome": "alreadyActive", "target": format!("{first}/"), "version": 2, "hash": v2_hash})
    );

    // The same runtime named twice steps back once: the second name finds it changed.
    let first_only = fleet.run(&["rollback", "--target", &first, "--target", &format!("{first}/"), "--output", "json"]);
    assert_eq!(code(&first_only), 0, "{}", text(&first_only.stderr));
    let outcomes = json(&first_only);
    assert_eq!(outcomes[0]["outcome"], "rolledBack", "{outcomes:#}");
    assert_eq!(outcomes[0]["from"]["version"], 2);
    assert_eq!(outcomes[0]["from"]["active"], false, "the bundle rolled back from is no longer active");
    assert_eq!(outcomes[0]["to"]["version"], 1);
    assert_eq!(outcomes[1]["outcome"], "changedSinceCheck", "{outcomes:#}");
    assert_eq!(outcomes[1]["version"], 1);
    assert_eq!(fleet.status(0)["version"], 1);
    assert_eq!(fleet.status(1)["version"], 2, "a target not named is left alone");

    let rolled_back = fleet.run(&["rollback", "--target", &second]);
    assert_eq!(code(&rolled_back), 0, "{}", text(&rolled_back.stderr));
    for index in 0..2 {
        assert_eq!(fleet.status(index)["version"], 1);
        assert_eq!(fleet.status(index)["hash"], v1_hash.as_str());
        assert_eq!(fleet.get(index, "/orders"), 404);
    }

    // `--to` a newer bundle is allowed, and the message names the direction the target moved.
    let forward = fleet.run(&["rollback", "--target", &first, "--to", &v2_hash, "--output", "json"]);
    assert_eq!(code(&forward), 0, "{}", text(&forward.stderr));
    assert!(text(&forward.stderr).contains("moved forward from version 1 to version 2"), "{}", text(&forward.stderr));
    assert_eq!(json(&forward)[0]["outcome"], "movedForward");

    // A closed standard error loses the messages, not the run.
    let quiet =
        gatectl_with_closed_stderr(&["rollback", "--target", &first, "--output", "json", "--admin-token-file", "token"], fleet.path());
    assert_eq!(code(&quiet), 0, "{}", text(&quiet.stdout));
    assert_eq!(json(&quiet)[0]["outcome"], "rolledBack");
    assert_eq!(fleet.status(0)["version"], 1);

    // `--history` lists the bundles rollback can activate, newest first, and marks the active one.
    let history = fleet.run(&["status", "--target", &first, "--history", "--output", "json"]);
    assert_eq!(code(&history), 0, "{}", text(&history.stderr));
    let entries = json(&history)[0]["history"].clone();
    assert_eq!(entries.as_array().map(Vec::len), Some(2), "{entries:#}");
    assert_eq!((entries[0]["version"].as_u64(), entries[0]["hash"].as_str()), (Some(2), Some(v2_hash.as_str())));
    assert_eq!(entries[0]["active"], false);
    assert_eq!((entries[1]["version"].as_u64(), entries[1]["active"].as_bool()), (Some(1), Some(true)));
    let listed = fleet.run(&["status", "--target", &first, "--history"]);
    let listed = text(&listed.stdout);
    assert!(listed.contains(&format!("* version 1, {v1_hash}, activated ")), "{listed}");
    assert!(listed.contains(&format!("  version 2, {v2_hash}, activated ")), "{listed}");
    let plain = fleet.run(&["status", "--target", &first, "--output", "json"]);
    assert!(json(&plain)[0].get("history").is_none(), "history is listed only when asked for");

    // Both runtimes run version 1 again, and version 2 is in their histories: the next plan
    // takes version 3, so that no version names two bundles.
    fleet.write_spec("v3.yaml", fleet.upstream.port(), &["orders", "items"]);
    let planned = fleet.plan("v3.yaml", "plan3.json");
    assert_eq!(code(&planned), 0, "{}", text(&planned.stderr));
    assert_eq!(read_json(&fleet.path().join("plan3.json"))["bundle"]["version"], 3);
}

#[test]
fn status_compares_config_spec_by_hash() {
    let fleet = Fleet::start();
    let served = fleet.write_spec("served.yaml", fleet.upstream.port(), &[]);
    fleet.write_spec("other.yaml", fleet.upstream.port(), &["orders"]);
    let spec = gatectl_spec::load::load_str("served.yaml", &std::fs::read_to_string(served).unwrap()).spec;
    let runtime = fleet
        ._tokio
        .block_on(Runtime::start(RuntimeOptions {
            spec,
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_token: Some(TOKEN.to_owned()),
            access_log: Some(gatectl_runtime::observe::access_log::AccessLogTarget::Disabled),
            ..RuntimeOptions::default()
        }))
        .unwrap();
    let url = format!("http://{}", runtime.admin_address().unwrap());

    let same = fleet.run(&["status", "--target", &url, "--spec", "served.yaml", "--output", "json"]);
    assert_eq!(code(&same), 0, "{}", text(&same.stderr));
    let same = json(&same);
    assert!(same[0]["version"].is_null());
    assert_eq!(same[0]["configHash"], same[0]["drift"]["specHash"], "{same:#}");
    assert_eq!(same[0]["drift"]["drifted"], false);
    let listed = text(&fleet.run(&["status", "--target", &url]).stdout);
    assert!(listed.contains("no bundle active; serves the spec given with --config, spec hash sha256:"), "{listed}");

    let other = fleet.run(&["status", "--target", &url, "--spec", "other.yaml", "--output", "json"]);
    assert_eq!(code(&other), 1, "{}", text(&other.stderr));
    let other = json(&other);
    assert_eq!(other[0]["drift"]["drifted"], true);
    assert!(other[0]["drift"]["summary"].is_null(), "the admin API does not return a --config spec: {other:#}");

    // The runtime serves the spec without a bundle: the plan changes nothing there, and its
    // bundle would start the runtime's history.
    let planned = fleet.run(&["plan", "served.yaml", "--target", &url, "--signing-key", "keys/release.key.pem", "-o", "served.json"]);
    assert_eq!(code(&planned), 0, "{}", text(&planned.stderr));
    assert!(text(&planned.stderr).contains("serves this spec from --config without a bundle"), "{}", text(&planned.stderr));
    let target = &read_json(&fleet.path().join("served.json"))["targets"][0];
    assert_eq!(target["summary"]["added"], 0, "{target:#}");
    assert_eq!(target["servesSpecFromConfig"], true);

    let diff = fleet.run(&["diff", "--live", &url, "served.yaml"]);
    assert_eq!(code(&diff), 2, "{}", text(&diff.stdout));
    assert!(text(&diff.stderr).contains("serves a spec given with --config"), "{}", text(&diff.stderr));

    // The echo upstream responds with JSON too, but it is no runtime.
    let echo = fleet.run(&["status", "--target", &format!("http://{}", fleet.upstream)]);
    assert_eq!(code(&echo), 2, "{}", text(&echo.stdout));
    assert!(text(&echo.stderr).contains("not what the admin API returns"), "{}", text(&echo.stderr));
}

#[test]
fn stale_plan_is_refused() {
    let fleet = Fleet::start();
    fleet.write_spec("v1.yaml", fleet.upstream.port(), &[]);
    fleet.write_spec("a.yaml", fleet.upstream.port(), &["a"]);
    fleet.write_spec("b.yaml", fleet.upstream.port(), &["b"]);
    assert_eq!(code(&fleet.plan("v1.yaml", "plan.json")), 0);
    assert_eq!(code(&fleet.apply("plan.json", "100ms")), 0);
    assert_eq!(code(&fleet.plan("a.yaml", "a.json")), 0);
    assert_eq!(code(&fleet.plan("b.yaml", "b.json")), 0);
    let applied = fleet.apply("a.json", "100ms");
    assert_eq!(code(&applied), 0, "{}", text(&applied.stderr));
    let a_hash = fleet.status(0)["hash"].clone();

    // Applying the same plan again pushes nothing, and reports that once per target.
    let again = fleet.apply("a.json", "100ms");
    assert_eq!(code(&again), 0, "{}", text(&again.stderr));
    let again_text = text(&again.stderr);
    assert_eq!(again_text.matches("already runs the planned spec").count(), 2, "{again_text}");
    assert!(again_text.contains("nothing to push: every target already runs the spec of bundle version 2"), "{again_text}");
    assert!(!again_text.contains("watching the health gate"), "{again_text}");

    // A new plan of the same spec has a new version, but pushes nothing either: an unchanged
    // spec adds no bundle to the history.
    let unchanged = fleet.plan("a.yaml", "a-again.json");
    assert_eq!(code(&unchanged), 0, "{}", text(&unchanged.stderr));
    assert!(text(&unchanged.stderr).contains("every target already runs this spec"), "{}", text(&unchanged.stderr));
    let unchanged = fleet.apply("a-again.json", "100ms");
    assert_eq!(code(&unchanged), 0, "{}", text(&unchanged.stderr));
    assert!(
        text(&unchanged.stderr).contains("nothing to push: every target already runs the spec of bundle version 3"),
        "{}",
        text(&unchanged.stderr)
    );
    assert_eq!(fleet.status(0)["hash"], a_hash, "the live bundle stays the one applied before");

    let stale = fleet.apply("b.json", "100ms");

    assert_eq!(code(&stale), 1, "{}", text(&stale.stderr));
    let report = json(&stale);
    assert_eq!(report["outcome"], "stale");
    assert_eq!(report["stale"].as_array().unwrap().len(), 2);
    assert!(text(&stale.stderr).contains("run `gatectl plan` again"), "{}", text(&stale.stderr));
    for index in 0..2 {
        assert_eq!(fleet.status(index)["hash"], a_hash);
    }
}

#[test]
fn failed_health_gate_rolls_back_second_wave() {
    let fleet = Fleet::start();
    fleet.write_spec("good.yaml", fleet.upstream.port(), &[]);
    fleet.write_spec("bad.yaml", fleet.dead_port, &[]);
    assert_eq!(code(&fleet.plan("good.yaml", "good.json")), 0);
    assert_eq!(code(&fleet.apply("good.json", "100ms")), 0);
    let good_hash = fleet.status(1)["hash"].clone();
    let planned = fleet.plan("bad.yaml", "bad.json");
    assert_eq!(code(&planned), 0, "{}", text(&planned.stderr));

    // Traffic on the second runtime only, so the first wave sees too few requests to judge and
    // passes, while the second wave's 5xx rate rises once the bundle with the dead upstream is
    // active. The loop stops by itself after a bounded number of requests.
    let stop = Arc::new(AtomicBool::new(false));
    let load_url = fleet.proxy_url(1, "/svc");
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap();
            for _ in 0..3000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let _ = client.get(&load_url).send();
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let applied = fleet.apply("bad.json", "2s");
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();

    assert_eq!(code(&applied), 1, "{}", text(&applied.stderr));
    let report = json(&applied);
    assert_eq!(report["outcome"], "rolledBack", "{report}");
    assert_eq!(report["waves"][0]["outcome"], "passed", "{report}");
    assert_eq!(report["waves"][1]["outcome"], "failed", "{report}");
    assert_eq!(report["waves"][1]["targets"][0]["outcome"], "rolledBack", "{report}");
    let bad_hash = read_json(&fleet.path().join("bad.json"))["bundle"]["hash"].clone();
    assert_eq!(fleet.status(0)["hash"], bad_hash);
    assert_eq!(fleet.status(1)["hash"], good_hash);
    assert_eq!(fleet.get(1, "/svc"), 200);
    assert!(text(&applied.stderr).contains("health gate failed") || text(&applied.stderr).contains("wave 2 failed"));
}

#[test]
fn apply_reports_wrong_admin_token() {
    let fleet = Fleet::start();
    fleet.write_spec("v1.yaml", fleet.upstream.port(), &[]);
    assert_eq!(code(&fleet.plan("v1.yaml", "plan.json")), 0);
    std::fs::write(fleet.path().join("token"), "not-the-token\n").unwrap();

    let applied = fleet.apply("plan.json", "100ms");

    assert_eq!(code(&applied), 2, "{}", text(&applied.stderr));
    let stderr = text(&applied.stderr);
    assert!(stderr.contains("401"), "{stderr}");
    assert!(stderr.contains(&fleet.admin_url(0)), "{stderr}");
    assert!(fleet.status(0)["hash"].is_null());
}

#[test]
fn apply_spec_plans_first_and_needs_yes() {
    let fleet = Fleet::start();
    fleet.write_spec("v1.yaml", fleet.upstream.port(), &[]);
    let (first, second) = (fleet.admin_url(0), fleet.admin_url(1));
    let arguments = [
        "apply",
        "v1.yaml",
        "--target",
        &first,
        "--target",
        &second,
        "--signing-key",
        "keys/release.key.pem",
        "--observation-window",
        "100ms",
    ];

    let unconfirmed = fleet.run(&arguments);

    assert_eq!(code(&unconfirmed), 2, "{}", text(&unconfirmed.stderr));
    assert!(text(&unconfirmed.stderr).contains("--yes"), "{}", text(&unconfirmed.stderr));
    assert!(fleet.status(0)["hash"].is_null());

    let mut confirmed = arguments.to_vec();
    confirmed.push("--yes");
    let applied = fleet.run(&confirmed);

    assert_eq!(code(&applied), 0, "{}", text(&applied.stderr));
    for index in 0..2 {
        assert_eq!(fleet.status(index)["version"], 1);
        assert_eq!(fleet.get(index, "/svc"), 200);
    }

    // With nothing to push there is nothing to confirm, so no --yes is needed.
    let unchanged = fleet.run(&arguments);
    assert_eq!(code(&unchanged), 0, "{}", text(&unchanged.stderr));
    assert!(text(&unchanged.stderr).contains("nothing to push"), "{}", text(&unchanged.stderr));
}

#[test]
fn rejected_bundle_stops_apply() {
    let fleet = Fleet::start();
    let output = gatectl(&["keygen", "--out", "keys", "--id", "other"], fleet.path());
    assert_eq!(code(&output), 0, "{}", text(&output.stderr));
    fleet.write_spec("v1.yaml", fleet.upstream.port(), &[]);
    let (first, second) = (fleet.admin_url(0), fleet.admin_url(1));
    let planned =
        fleet.run(&["plan", "v1.yaml", "--target", &first, "--target", &second, "--signing-key", "keys/other.key.pem", "-o", "plan.json"]);
    assert_eq!(code(&planned), 0, "{}", text(&planned.stderr));

    let applied = fleet.apply("plan.json", "100ms");

    assert_eq!(code(&applied), 1, "{}", text(&applied.stderr));
    let report = json(&applied);
    assert_eq!(report["outcome"], "rejected", "{report}");
    assert_eq!(report["waves"][0]["targets"][0]["outcome"], "rejected", "{report}");
    assert_eq!(report["waves"][1]["outcome"], "notStarted", "{report}");
    let stderr = text(&applied.stderr);
    assert!(stderr.contains(&format!("target {first}: POST /bundles returned 422")), "{stderr}");
    assert!(stderr.contains("add the signer's public key"), "{stderr}");
    for index in 0..2 {
        assert!(fleet.status(index)["hash"].is_null());
    }
}
