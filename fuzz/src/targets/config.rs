//! The configuration loader (`config::load_str`): YAML syntax, section shapes, rules.
//!
//! Properties: any text either loads or is refused with at least one problem, each problem on
//! a line of its own (the error is displayed one problem per line, and `tidegate check`
//! prints it so); loading is deterministic.

use tidegate::config::load_str;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // `load_file` reads text: invalid UTF-8 never reaches the loader.
    };
    match load_str(text, "fuzz.yaml") {
        Ok(config) => {
            let again = load_str(text, "fuzz.yaml").map(|c| format!("{c:?}"));
            assert_eq!(again, Ok(format!("{config:?}")), "loading is deterministic");
        }
        Err(error) => {
            assert!(!error.problems.is_empty(), "a refusal names a problem");
            for problem in &error.problems {
                assert!(
                    !problem.location.contains('\n') && !problem.message.contains('\n'),
                    "a problem spans lines: {problem:?}"
                );
            }
            assert_eq!(error.to_string().lines().count(), error.problems.len());
        }
    }
}
