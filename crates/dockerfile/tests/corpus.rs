//! The parser against a corpus of Dockerfiles in the style of real projects
//! (`tests/corpus/valid`, each with its instruction keywords in
//! `EXPECTED.tsv`) and of malformed ones (`tests/corpus/invalid`, each with
//! the line, column and message of its one defect).

use std::path::{Path, PathBuf};

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

fn expectations(kind: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(corpus(kind).join("EXPECTED.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn dockerfiles(kind: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus(kind))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".Dockerfile"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_valid_file_parses_to_its_instructions() {
    let expected = expectations("valid");
    let listed: Vec<&str> = expected.iter().map(|e| e[0].as_str()).collect();
    assert_eq!(
        listed,
        dockerfiles("valid"),
        "EXPECTED.tsv and the files differ"
    );
    assert!(listed.len() >= 60, "the corpus has {} files", listed.len());
    for e in &expected {
        let text = std::fs::read_to_string(corpus("valid").join(&e[0])).unwrap();
        let doc = slipway_dockerfile::parse(&text).unwrap_or_else(|err| panic!("{}: {err}", e[0]));
        let got: Vec<&str> = doc
            .instructions
            .iter()
            .map(|i| i.keyword.as_str())
            .collect();
        let want: Vec<&str> = e[1].split(',').collect();
        assert_eq!(got, want, "{}", e[0]);
        // Stages and base images come out of every one of them too, and
        // the linter runs on all of them.
        slipway_dockerfile::stages(&text, &Default::default())
            .unwrap_or_else(|err| panic!("{}: {err}", e[0]));
        slipway_dockerfile::lint::lint(&doc, &Default::default());
    }
}

#[test]
fn every_invalid_file_fails_at_its_defect() {
    let expected = expectations("invalid");
    let listed: Vec<&str> = expected.iter().map(|e| e[0].as_str()).collect();
    assert_eq!(
        listed,
        dockerfiles("invalid"),
        "EXPECTED.tsv and the files differ"
    );
    assert!(listed.len() >= 16);
    for e in &expected {
        let text = std::fs::read_to_string(corpus("invalid").join(&e[0])).unwrap();
        let err = slipway_dockerfile::parse(&text)
            .err()
            .unwrap_or_else(|| panic!("{} parsed", e[0]));
        let line: usize = e[1].parse().unwrap();
        let column: usize = e[2].parse().unwrap();
        assert_eq!((err.line, err.column), (line, column), "{}: {err}", e[0]);
        assert!(err.message.contains(&e[3]), "{}: {err}", e[0]);
    }
}
