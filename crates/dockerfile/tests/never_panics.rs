//! The parser's promise: any input gives a Dockerfile or an error with a
//! line and column inside the input, never a panic; and the linter (with
//! its shell parser) never panics on what parses.

use proptest::prelude::*;

/// Pieces Dockerfiles are made of, so that random input reaches deep into
/// the parser instead of failing on the first word.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FROM ".to_string()),
        Just("RUN ".to_string()),
        Just("COPY ".to_string()),
        Just("ADD ".to_string()),
        Just("ENV ".to_string()),
        Just("LABEL ".to_string()),
        Just("ARG ".to_string()),
        Just("HEALTHCHECK ".to_string()),
        Just("ONBUILD ".to_string()),
        Just("SHELL ".to_string()),
        Just("CMD ".to_string()),
        Just("--from=".to_string()),
        Just("--mount=".to_string()),
        Just("--link ".to_string()),
        Just("<<EOF".to_string()),
        Just("<<-'EOT'".to_string()),
        Just("EOF".to_string()),
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just("\r\n".to_string()),
        Just("\\\n".to_string()),
        Just("`\n".to_string()),
        Just("# escape=`\n".to_string()),
        Just("# hadolint ignore=DL3008\n".to_string()),
        Just("[\"a\", \"b\"]".to_string()),
        Just("[\"unclosed".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("=".to_string()),
        Just(" AS ".to_string()),
        Just("${X:-d}".to_string()),
        Just("é€😀".to_string()),
        Just("apt-get install -y ".to_string()),
        Just("pip install ".to_string()),
        Just(" | ".to_string()),
        Just(" && ".to_string()),
        Just("$(".to_string()),
        Just(")".to_string()),
        Just("`".to_string()),
        Just("case $a in x|y) ".to_string()),
        Just(";; esac".to_string()),
        Just("if true; then ".to_string()),
        Just("<<'X'\n".to_string()),
        "[a-z0-9 /.:_-]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn structured_soup_never_panics(pieces in proptest::collection::vec(piece(), 0..40)) {
        let text: String = pieces.concat();
        check(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn shell_soup_never_panics(pieces in proptest::collection::vec(piece(), 0..40)) {
        let _ = slipway_dockerfile::shell::ParsedShell::parse(&pieces.concat());
    }
}

fn check(text: &str) {
    match slipway_dockerfile::parse(text) {
        Ok(d) => {
            for i in &d.instructions {
                assert!(i.start.line >= 1 && i.end_line >= i.start.line);
            }
            let config = slipway_dockerfile::lint::LintConfig::default();
            for f in slipway_dockerfile::lint::lint(&d, &config) {
                assert!(f.line >= 1, "{f:?} for {text:?}");
            }
            let _ = slipway_dockerfile::lint::shellcheck::scripts(&d);
        }
        Err(e) => {
            let lines = text.split('\n').count();
            assert!(e.line >= 1 && e.line <= lines, "{e} for {text:?}");
            assert!(e.column >= 1, "{e} for {text:?}");
        }
    }
}
