//! A build's failure reason is one or two readable lines: tools print
//! whole RUN scripts and Go struct dumps into their errors, which belong in
//! the log (where the tool's full output already is), not in the reason.

/// Longest reason kept, in characters.
const MAX_REASON: usize = 400;
/// Longest quoted Dockerfile step kept inside a reason.
const MAX_STEP: usize = 80;
/// Longest `{…}` / `&{…}` dump kept inside a reason.
const MAX_DUMP: usize = 60;

/// `text` made into a short reason: whitespace runs (newlines too) become
/// one space, a long quoted step (`STEP "RUN …"`) and long brace dumps are
/// cut, and the whole is at most [`MAX_REASON`] characters.
pub fn short_reason(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = cut_steps(&flat);
    let flat = cut_dumps(&flat);
    if flat.chars().count() <= MAX_REASON {
        return flat;
    }
    let mut out: String = flat.chars().take(MAX_REASON).collect();
    if let Some(space) = out.rfind(' ')
        && space > MAX_REASON / 2
    {
        out.truncate(space);
    }
    out.push_str(" … (the build log has the whole message)");
    out
}

fn cut_steps(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("STEP \"") {
        let (head, tail) = rest.split_at(i + "STEP \"".len());
        out.push_str(head);
        // The step's text ends at the quote before `": ` (buildah's form).
        let end = tail.find("\": ").unwrap_or(tail.len());
        let step = &tail[..end];
        if step.chars().count() > MAX_STEP {
            out.extend(step.chars().take(MAX_STEP - 1));
            out.push('…');
        } else {
            out.push_str(step);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn cut_dumps(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '{' {
            // Find the matching brace.
            let mut depth = 0usize;
            let mut j = i;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j < chars.len() && j - i > MAX_DUMP {
                out.push_str("{…}");
                i = j + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_steps_dumps_and_lines_are_cut() {
        let script = "n=0; for p in /proc/[0-9]*; do echo $p; done; ".repeat(20);
        let r = short_reason(&format!(
            "build failed: building at STEP \"RUN {script}\": exit status 1"
        ));
        assert!(
            r.starts_with("build failed: building at STEP \"RUN n=0;"),
            "{r}"
        );
        assert!(r.ends_with("…\": exit status 1"), "{r}");
        assert!(r.chars().count() < 160, "{r}");
        let dump = format!(
            "copier: get: &{{Root:/ Dir:/src Globs:[{}] Excludes:[]}}: no such file",
            "a ".repeat(500)
        );
        let r = short_reason(&dump);
        assert_eq!(r, "copier: get: &{…}: no such file");
        let r = short_reason(&"word ".repeat(500));
        assert!(r.chars().count() < MAX_REASON + 60, "{r}");
        assert!(r.ends_with("(the build log has the whole message)"));
        assert_eq!(short_reason("two\n  lines"), "two lines");
        assert_eq!(short_reason("unbalanced { brace"), "unbalanced { brace");
    }
}
