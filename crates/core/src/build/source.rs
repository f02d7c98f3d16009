//! Where a build's source comes from: a git URL or a local repository path,
//! and which git ref to build.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("source is empty; give a git URL (https://…, file://…) or a local repository path")]
    Empty,
    #[error(
        "source {0:?} is not a git URL or an absolute path; use https://, http://, ssh://, git://, file:// or an absolute path"
    )]
    Unsupported(String),
    #[error("git ref {0:?} is not valid: {1}")]
    BadRef(String, &'static str),
}

/// A validated source location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "location", rename_all = "snake_case")]
pub enum SourceLocation {
    /// A URL git understands (`https://`, `http://`, `ssh://`, `git://`, `file://`, or `user@host:path`).
    Url(String),
    /// An absolute path to a repository on the server's machine.
    Path(String),
}

impl SourceLocation {
    pub fn parse(s: &str) -> Result<Self, SourceError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SourceError::Empty);
        }
        if s.starts_with('-') || s.chars().any(|c| c.is_control()) {
            return Err(SourceError::Unsupported(s.to_string()));
        }
        const SCHEMES: [&str; 5] = ["https://", "http://", "ssh://", "git://", "file://"];
        if SCHEMES.iter().any(|p| s.starts_with(p)) {
            return Ok(SourceLocation::Url(s.to_string()));
        }
        if s.starts_with('/') {
            return Ok(SourceLocation::Path(s.to_string()));
        }
        // scp-like syntax: user@host:path
        if let Some((user_host, path)) = s.split_once(':')
            && user_host.contains('@')
            && !user_host.contains('/')
            && !path.is_empty()
        {
            return Ok(SourceLocation::Url(s.to_string()));
        }
        Err(SourceError::Unsupported(s.to_string()))
    }

    /// What to hand to git: local paths become `file://` URLs so that shallow
    /// fetches work the same way for every source.
    pub fn git_url(&self) -> String {
        match self {
            SourceLocation::Url(u) => u.clone(),
            SourceLocation::Path(p) => format!("file://{p}"),
        }
    }

    /// What to hand to git with the credentials taken out: an `http(s)` URL
    /// with a user or password becomes the URL without them plus the
    /// credentials (percent-decoded), which reach git through its
    /// environment, never its command line. Other locations are unchanged.
    pub fn git_url_and_credentials(&self) -> (String, Option<GitCredentials>) {
        let url = self.git_url();
        let Some((scheme, rest)) = url.split_once("://") else {
            return (url, None);
        };
        if scheme != "http" && scheme != "https" {
            return (url, None);
        }
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let Some((userinfo, host)) = rest[..authority_end].rsplit_once('@') else {
            return (url, None);
        };
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let bare = format!("{scheme}://{host}{}", &rest[authority_end..]);
        (
            bare,
            Some(GitCredentials {
                username: percent_decode(user),
                password: percent_decode(password),
            }),
        )
    }

    /// The location with any password in the URL replaced by `***`, for logs
    /// and API output.
    pub fn redacted(&self) -> String {
        match self {
            SourceLocation::Url(u) => redact_url(u),
            SourceLocation::Path(p) => p.clone(),
        }
    }
}

/// A user name and password taken out of a source URL.
#[derive(Clone, PartialEq, Eq)]
pub struct GitCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitCredentials({:?}, ***)", self.username)
    }
}

/// Decode `%XX` escapes (a broken escape stays as it is).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Replace the password of `scheme://user:password@host/…` by `***`.
pub fn redact_url(u: &str) -> String {
    let Some((scheme, rest)) = u.split_once("://") else {
        return u.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let shown = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                // A lone userinfo is usually a token: hide it too.
                "***".to_string()
            };
            format!("{scheme}://{shown}@{host}{}", &rest[authority_end..])
        }
        None => u.to_string(),
    }
}

/// Whether a string is a full hexadecimal commit id (SHA-1 or SHA-256).
pub fn is_commit_id(r: &str) -> bool {
    (r.len() == 40 || r.len() == 64) && r.chars().all(|c| c.is_ascii_hexdigit())
}

/// Check a git ref name given by a user before it reaches a git command line.
pub fn validate_ref(r: &str) -> Result<(), SourceError> {
    let bad = |why| Err(SourceError::BadRef(r.to_string(), why));
    if r.is_empty() {
        return bad("it is empty");
    }
    if r.starts_with('-') {
        return bad("it starts with '-'");
    }
    if r.contains("..") || r.contains("@{") || r.ends_with('/') || r.ends_with(".lock") {
        return bad("it contains '..', '@{', or ends with '/' or '.lock'");
    }
    if r.chars().any(|c| {
        c.is_control() || c == ' ' || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return bad("it contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            SourceLocation::parse("https://example.com/a.git").unwrap(),
            SourceLocation::Url("https://example.com/a.git".into())
        );
        assert_eq!(
            SourceLocation::parse("/srv/repo").unwrap().git_url(),
            "file:///srv/repo"
        );
        assert_eq!(
            SourceLocation::parse("git@example.com:team/app.git").unwrap(),
            SourceLocation::Url("git@example.com:team/app.git".into())
        );
        assert_eq!(SourceLocation::parse(" "), Err(SourceError::Empty));
        assert!(SourceLocation::parse("relative/dir").is_err());
        assert!(SourceLocation::parse("--upload-pack=evil").is_err());
        assert!(SourceLocation::parse("ftp://x/y").is_err());
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact_url("https://bob:s3cret@example.com/a.git"),
            "https://bob:***@example.com/a.git"
        );
        assert_eq!(
            redact_url("https://ghp_token@example.com/a.git"),
            "https://***@example.com/a.git"
        );
        assert_eq!(
            redact_url("https://example.com/a@b"),
            "https://example.com/a@b"
        );
    }

    #[test]
    fn refs() {
        assert!(validate_ref("main").is_ok());
        assert!(validate_ref("release/1.2").is_ok());
        assert!(validate_ref("v1.0.0").is_ok());
        assert!(validate_ref("-c").is_err());
        assert!(validate_ref("a..b").is_err());
        assert!(validate_ref("a b").is_err());
        assert!(validate_ref("").is_err());
        assert!(is_commit_id(&"a".repeat(40)));
        assert!(!is_commit_id("main"));
    }

    #[test]
    fn credentials_leave_the_url() {
        let l = SourceLocation::parse("https://bob:p%40ss@git.example.com/team/app.git").unwrap();
        let (url, creds) = l.git_url_and_credentials();
        assert_eq!(url, "https://git.example.com/team/app.git");
        let creds = creds.unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.as_str()),
            ("bob", "p@ss")
        );
        assert!(!format!("{creds:?}").contains("p@ss"));
        let (url, creds) = SourceLocation::parse("https://TOKEN@h/x")
            .unwrap()
            .git_url_and_credentials();
        assert_eq!(url, "https://h/x");
        assert_eq!(creds.unwrap().username, "TOKEN");
        for plain in ["https://h/x", "ssh://git@h/x", "git@h:x", "/srv/repo"] {
            let l = SourceLocation::parse(plain).unwrap();
            assert_eq!(l.git_url_and_credentials(), (l.git_url(), None), "{plain}");
        }
    }
}
