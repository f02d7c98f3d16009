//! Paths that users give us (context directory, Dockerfile path) are always
//! relative to a root we control, and must never leave it.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path {0:?} is absolute; give a path relative to the repository root")]
    Absolute(String),
    #[error("path {0:?} leaves the repository root")]
    Escapes(String),
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
}

/// Normalise a user-given relative path: drop `.` components and resolve `..`
/// lexically, refusing any path that would climb above the root. Returns `.`
/// for the root itself. Symlinks are checked separately, on disk, by the
/// adapter that opens the file.
pub fn clean_relative(path: &str) -> Result<String, PathError> {
    if path.contains('\0') {
        return Err(PathError::Nul(path.to_string()));
    }
    if path.starts_with('/') {
        return Err(PathError::Absolute(path.to_string()));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::Escapes(path.to_string()));
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        Ok(".".to_string())
    } else {
        Ok(parts.join("/"))
    }
}

/// Join two cleaned relative paths.
pub fn join_relative(base: &str, rel: &str) -> String {
    match (base, rel) {
        (".", r) => r.to_string(),
        (b, ".") => b.to_string(),
        (b, r) => format!("{b}/{r}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(clean_relative("").unwrap(), ".");
        assert_eq!(clean_relative(".").unwrap(), ".");
        assert_eq!(clean_relative("a/./b/").unwrap(), "a/b");
        assert_eq!(clean_relative("a/../b").unwrap(), "b");
        assert_eq!(clean_relative("a/b/../..").unwrap(), ".");
    }

    #[test]
    fn refuses_escape_and_absolute() {
        assert_eq!(
            clean_relative("../etc/passwd"),
            Err(PathError::Escapes("../etc/passwd".into()))
        );
        assert_eq!(
            clean_relative("a/../../b"),
            Err(PathError::Escapes("a/../../b".into()))
        );
        assert_eq!(
            clean_relative("/etc/passwd"),
            Err(PathError::Absolute("/etc/passwd".into()))
        );
        assert!(matches!(clean_relative("a\0b"), Err(PathError::Nul(_))));
    }

    #[test]
    fn joins() {
        assert_eq!(join_relative(".", "Dockerfile"), "Dockerfile");
        assert_eq!(join_relative("app", "."), "app");
        assert_eq!(join_relative("app", "Dockerfile"), "app/Dockerfile");
    }
}
