//! SLSA Provenance v1 in an in-toto Statement v1: which images a build
//! made (the subjects, by digest), from what (the source URL without
//! credentials, ref, commit, Dockerfile, build arguments, platforms; the
//! commit and every base image by digest as resolved dependencies), and
//! how (this Slipway as the builder, the build's id, times and clusters).
//!
//! The statement is built from plain facts ([`Facts`]) the server gathers;
//! nothing here reads a build record, so the format stays in one place.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What a Slipway build is: a Dockerfile built with buildah from a git
/// commit (`externalParameters` as documented in the README's
/// supply-chain section).
pub const BUILD_TYPE: &str = "https://slipway.dev/provenance/dockerfile-build/v1";

/// What a statement says, gathered by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// `builder.id`: this Slipway (its public URL).
    pub builder_id: String,
    pub builder_version: String,
    /// The images made: `(registry/repository, sha256:…)`; an index and
    /// each platform's manifest.
    pub subjects: Vec<(String, String)>,
    /// The source as requested; any credentials are dropped here.
    pub source_url: String,
    pub git_ref: Option<String>,
    pub commit: Option<String>,
    pub context_dir: String,
    pub dockerfile: String,
    /// Build arguments; those named in `secret_args` are left out.
    pub build_args: BTreeMap<String, String>,
    pub secret_args: Vec<String>,
    pub platforms: Vec<String>,
    /// Base images as the Dockerfile names them, with the digest pulled.
    pub base_images: Vec<(String, String)>,
    pub build_id: i64,
    /// Where the build can be looked at (`<url>/api/v1/builds/<id>`).
    pub invocation: String,
    /// RFC 3339.
    pub started: Option<String>,
    pub finished: Option<String>,
    /// `platform → cluster` that built it.
    pub clusters: BTreeMap<String, String>,
}

/// A URL with its user information (user, password, token) removed:
/// `https://user:secret@host/x` → `https://host/x`. `user@host:path` (scp
/// syntax) keeps `user` only if it is `git`, the usual anonymous one.
pub fn without_credentials(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return format!("{scheme}://{host}{path}");
    }
    match url.split_once('@') {
        Some((user, rest)) if !url.starts_with('/') && rest.contains(':') && user != "git" => {
            rest.to_string()
        }
        _ => url.to_string(),
    }
}

/// `sha256:hex` → `{"sha256": "hex"}` (a ResourceDescriptor's digest set).
fn digest_set(digest: &str) -> Value {
    match digest.split_once(':') {
        Some((algorithm, hex)) => json!({ algorithm: hex }),
        None => json!({}),
    }
}

/// The statement, as JSON (keys in a fixed order, so equal facts give
/// equal bytes).
pub fn statement(f: &Facts) -> Value {
    let source = without_credentials(&f.source_url);
    let subjects: Vec<Value> = f
        .subjects
        .iter()
        .map(|(name, digest)| json!({"name": name, "digest": digest_set(digest)}))
        .collect();
    let args: BTreeMap<&String, &String> = f
        .build_args
        .iter()
        .filter(|(k, _)| !f.secret_args.contains(k))
        .collect();
    let mut source_params = Map::new();
    source_params.insert("url".into(), json!(source));
    if let Some(r) = &f.git_ref {
        source_params.insert("ref".into(), json!(r));
    }
    if let Some(c) = &f.commit {
        source_params.insert("commit".into(), json!(c));
    }
    let mut dependencies = Vec::new();
    if let Some(c) = &f.commit {
        let uri = match &f.git_ref {
            Some(r) => format!("git+{source}@{r}"),
            None => format!("git+{source}"),
        };
        dependencies.push(json!({"uri": uri, "digest": {"gitCommit": c}}));
    }
    for (name, digest) in &f.base_images {
        dependencies.push(
            json!({"name": name, "uri": format!("oci://{name}"), "digest": digest_set(digest)}),
        );
    }
    let mut metadata = Map::new();
    metadata.insert("invocationId".into(), json!(f.invocation));
    if let Some(t) = &f.started {
        metadata.insert("startedOn".into(), json!(t));
    }
    if let Some(t) = &f.finished {
        metadata.insert("finishedOn".into(), json!(t));
    }
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "source": source_params,
                    "contextDir": f.context_dir,
                    "dockerfile": f.dockerfile,
                    "buildArgs": args,
                    "platforms": f.platforms,
                },
                "internalParameters": {
                    "buildId": f.build_id,
                    "clusters": f.clusters,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": f.builder_id,
                    "version": {"slipway": f.builder_version},
                },
                "metadata": metadata,
            }
        }
    })
}

/// A statement's facts a policy or `slipway verify` checks, read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    pub subjects: Vec<(String, String)>,
    pub builder_id: String,
    pub source_url: String,
    pub commit: Option<String>,
    /// Base image names.
    pub base_images: Vec<String>,
}

/// Read a statement (already verified): refuses what is not an in-toto
/// v1 statement with an SLSA v1 predicate.
pub fn read(statement: &Value) -> Result<Read, String> {
    let text = |v: &Value, path: &str| -> Result<String, String> {
        v.pointer(path)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("the statement has no {path}"))
    };
    if text(statement, "/_type")? != STATEMENT_TYPE {
        return Err(format!("not an in-toto statement ({STATEMENT_TYPE})"));
    }
    if text(statement, "/predicateType")? != PREDICATE_TYPE {
        return Err(format!("not SLSA provenance ({PREDICATE_TYPE})"));
    }
    let mut subjects = Vec::new();
    for s in statement
        .get("subject")
        .and_then(Value::as_array)
        .ok_or("the statement has no subjects")?
    {
        let name = text(s, "/name")?;
        let digests = s
            .get("digest")
            .and_then(Value::as_object)
            .ok_or("a subject has no digest")?;
        for (algorithm, hex) in digests {
            if let Some(hex) = hex.as_str() {
                subjects.push((name.clone(), format!("{algorithm}:{hex}")));
            }
        }
    }
    let deps = statement
        .pointer("/predicate/buildDefinition/resolvedDependencies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(Read {
        subjects,
        builder_id: text(statement, "/predicate/runDetails/builder/id")?,
        source_url: text(
            statement,
            "/predicate/buildDefinition/externalParameters/source/url",
        )?,
        commit: statement
            .pointer("/predicate/buildDefinition/externalParameters/source/commit")
            .and_then(Value::as_str)
            .map(str::to_string),
        base_images: deps
            .iter()
            .filter(|d| d.pointer("/digest/gitCommit").is_none())
            .filter_map(|d| d.get("name").and_then(Value::as_str).map(str::to_string))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            builder_id: "https://slipway.example.com".into(),
            builder_version: "1.2.3".into(),
            subjects: vec![("reg:5000/team/app".into(), "sha256:aaaa".into())],
            source_url: "https://bot:hunter2@git.example.com/team/app.git".into(),
            git_ref: Some("main".into()),
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            context_dir: ".".into(),
            dockerfile: "Dockerfile".into(),
            build_args: [("VERSION", "1"), ("NPM_TOKEN", "s3cret")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secret_args: vec!["NPM_TOKEN".into()],
            platforms: vec!["x86_64".into()],
            base_images: vec![(
                "registry.fedoraproject.org/fedora:40".into(),
                "sha256:bbbb".into(),
            )],
            build_id: 42,
            invocation: "https://slipway.example.com/api/v1/builds/42".into(),
            started: Some("2026-12-01T04:00:00Z".into()),
            finished: Some("2026-12-01T04:01:00Z".into()),
            clusters: [("x86_64".to_string(), "local".to_string())].into(),
        }
    }

    #[test]
    fn a_statement_names_source_dependencies_and_run_without_secrets() {
        let s = statement(&facts());
        let text = s.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("bot@"),
            "{text}"
        );
        assert!(
            !text.contains("s3cret") && !text.contains("NPM_TOKEN"),
            "{text}"
        );
        assert_eq!(s["_type"], STATEMENT_TYPE);
        assert_eq!(
            s["subject"][0],
            json!({"name": "reg:5000/team/app", "digest": {"sha256": "aaaa"}})
        );
        let def = &s["predicate"]["buildDefinition"];
        assert_eq!(def["buildType"], BUILD_TYPE);
        assert_eq!(
            def["externalParameters"]["source"],
            json!({"url": "https://git.example.com/team/app.git", "ref": "main", "commit": "0123456789abcdef0123456789abcdef01234567"})
        );
        assert_eq!(
            def["externalParameters"]["buildArgs"],
            json!({"VERSION": "1"})
        );
        assert_eq!(
            def["resolvedDependencies"],
            json!([
                {"uri": "git+https://git.example.com/team/app.git@main", "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"}},
                {"name": "registry.fedoraproject.org/fedora:40", "uri": "oci://registry.fedoraproject.org/fedora:40", "digest": {"sha256": "bbbb"}}
            ])
        );
        let run = &s["predicate"]["runDetails"];
        assert_eq!(run["builder"]["id"], "https://slipway.example.com");
        assert_eq!(
            run["metadata"]["invocationId"],
            "https://slipway.example.com/api/v1/builds/42"
        );
        assert_eq!(run["metadata"]["finishedOn"], "2026-12-01T04:01:00Z");
        // Same facts, same bytes.
        assert_eq!(statement(&facts()).to_string(), text);
    }

    #[test]
    fn a_statement_reads_back() {
        let r = read(&statement(&facts())).unwrap();
        assert_eq!(
            r.subjects,
            vec![("reg:5000/team/app".to_string(), "sha256:aaaa".to_string())]
        );
        assert_eq!(r.source_url, "https://git.example.com/team/app.git");
        assert_eq!(
            r.base_images,
            vec!["registry.fedoraproject.org/fedora:40".to_string()]
        );
        assert_eq!(r.builder_id, "https://slipway.example.com");
        let mut other = statement(&facts());
        other["predicateType"] = json!("https://slsa.dev/provenance/v0.2");
        assert!(read(&other).unwrap_err().contains("SLSA"));
    }

    #[test]
    fn credentials_leave_every_url_form() {
        for (given, shown) in [
            ("https://u:p@host/x.git", "https://host/x.git"),
            ("https://token@host/x.git", "https://host/x.git"),
            ("https://host/x.git", "https://host/x.git"),
            ("ssh://git@host:22/x.git", "ssh://host:22/x.git"),
            ("deploy@host:team/x.git", "host:team/x.git"),
            ("git@host:team/x.git", "git@host:team/x.git"),
            ("/srv/git/x", "/srv/git/x"),
        ] {
            assert_eq!(without_credentials(given), shown, "{given}");
        }
    }
}
