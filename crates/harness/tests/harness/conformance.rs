//! The runners match every fixture the real `@grafana/data` produced (`cargo xtask fixtures`
//! regenerates them from `oracle/`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value as Json;

/// JSON equality with numbers compared as numbers (JavaScript and serde print some the
/// same number differently, e.g. `9007199254740993` vs `9007199254740992.0`).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn fixtures(name: &str) -> Vec<Json> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask fixtures`)", path.display()));
    let file: Json = serde_json::from_str(&text).expect("fixture file is JSON");
    file["cases"].as_array().expect("a cases array").clone()
}

/// Runs `ringstream-harness conformance <kind>` (the real binary) on `input`.
fn run_binary(kind: &str, input: &Json) -> Result<Json, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringstream-harness"))
        .args(["conformance", kind])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the harness binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("the runner prints JSON"))
}

/// Checks every case of a fixture file, reporting all mismatches at once.
fn check_all(file: &str, kind: &str, input_key: &str, min_cases: usize) {
    let cases = fixtures(file);
    assert!(
        cases.len() >= min_cases,
        "{file}: only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let want = &case["frame"];
        match (run_binary(kind, &case[input_key]), want.get("error")) {
            (Ok(got), None) if same(&got, want) => {}
            (Err(_), Some(_)) => {} // both refuse the input
            (got, _) => failures.push(format!("{name}: want {want}\n      got {got:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {file} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn ring_runner_matches_every_circular_data_frame_fixture() {
    check_all("ring.json", "ring", "script", 200);
}

#[test]
fn live_runner_matches_every_streaming_data_frame_fixture() {
    check_all("live.json", "live", "input", 150);
}

#[test]
fn ring_runner_rejects_bad_scripts_with_a_message() {
    let bad = serde_json::json!({"capacity": 0, "ops": []});
    let err = run_binary("ring", &bad).unwrap_err();
    assert!(err.contains("capacity must be at least 1"), "{err}");
    let bad = serde_json::json!({"capacity": 2, "ops": [{"op": "addField", "name": "x", "type": "float"}]});
    let err = run_binary("ring", &bad).unwrap_err();
    assert!(
        err.contains("expected one of time, number, string, boolean"),
        "{err}"
    );
}

#[test]
fn json_comparison_can_fail() {
    assert!(!same(
        &serde_json::json!([1, 2]),
        &serde_json::json!([1, 2.5])
    ));
    assert!(same(&serde_json::json!(3), &serde_json::json!(3.0)));
}
