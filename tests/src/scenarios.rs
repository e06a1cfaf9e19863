//! The recorded scenarios' files (`tests/scenarios/<proto>/<case>/`), as holo's conformance
//! tests lay them out: `setup.json`, `input.jsonl` (one step a line) and `expected.jsonl` (one
//! outcome a line). Each protocol's test gives the function that runs a case; this reads the
//! files, compares, and with `UPDATE_EXPECT=1` writes what the run produced instead.

use std::fmt::Debug;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Runs every case under `tests/scenarios/<proto>` (at least `min` of them) through `run`
/// and asserts that each produces its `expected.jsonl`, naming the case and the line.
pub fn check<S, I, E>(proto: &str, min: usize, run: impl Fn(&S, &[I]) -> Vec<E>)
where
    S: DeserializeOwned,
    I: DeserializeOwned,
    E: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(proto);
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= min,
        "scenarios missing in {}",
        root.display()
    );
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let setup: S =
            serde_json::from_str(&std::fs::read_to_string(case.join("setup.json")).unwrap())
                .unwrap_or_else(|e| panic!("{name}/setup.json: {e}"));
        let steps: Vec<I> = lines(&case.join("input.jsonl"), &name, "input.jsonl");
        let got = run(&setup, &steps);
        let expected_path = case.join("expected.jsonl");
        if update {
            let text: String = got
                .iter()
                .map(|e| serde_json::to_string(e).unwrap() + "\n")
                .collect();
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        assert!(
            expected_path.exists(),
            "{name}/expected.jsonl is missing (UPDATE_EXPECT=1 writes it)"
        );
        let expected: Vec<E> = lines(&expected_path, &name, "expected.jsonl");
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "{name}: line {} of expected.jsonl differs", i + 1);
        }
        assert_eq!(
            got.len(),
            expected.len(),
            "{name}: {} outcomes, expected {}",
            got.len(),
            expected.len()
        );
    }
}

/// The JSON value of each non-blank line of `path`.
fn lines<T: DeserializeOwned>(path: &Path, case: &str, file: &str) -> Vec<T> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{case}/{file}: {e}"))
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{case}/{file}:{}: {e}", i + 1))
        })
        .collect()
}
