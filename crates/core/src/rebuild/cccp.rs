//! Importing a CentOS Community Container Pipeline index (`index.d/*.yaml`)
//! as image configs.
//!
//! Each file `index.d/<app-id>.yaml` holds `Projects:`, a list of entries
//! with `id`, `app-id`, `job-id`, `git-url`, `git-path`, `git-branch`,
//! `target-file`, `desired-tag`, `notify-email`, `build-context`,
//! `depends-on` and optionally `prebuild-script`/`prebuild-context`. The
//! index's own rules are checked: ids unique per file, `app-id` equal to
//! the file name, (app-id, job-id, desired-tag) unique across the index.
//!
//! An entry becomes the config `{app}-{job}-{tag}` (lowercased, `_ / . :`
//! turned to `-`, as the pipeline names its jobs) building
//! `{registry}/{app-id}/{job-id}:{desired-tag}`, with the context directory
//! `git-path/build-context` and its `depends-on` images as parents.

use crate::paths::clean_relative;
use crate::rebuild::image_config::{ConfigSource, HistoryLimits, ImageConfig, RunPolicy, Triggers};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Deserialize)]
struct IndexFile {
    #[serde(rename = "Projects")]
    projects: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Entry {
    id: serde_json::Value,
    app_id: String,
    job_id: String,
    git_url: String,
    #[serde(default)]
    git_path: Option<String>,
    #[serde(default)]
    git_branch: Option<String>,
    #[serde(default)]
    target_file: Option<String>,
    desired_tag: serde_json::Value,
    #[serde(default)]
    notify_email: Option<String>,
    #[serde(default)]
    build_context: Option<String>,
    #[serde(default)]
    depends_on: Option<DependsOn>,
    #[serde(default)]
    prebuild_script: Option<String>,
    #[serde(default)]
    prebuild_context: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DependsOn {
    One(String),
    Many(Vec<Option<String>>),
}

/// One index file: its name (`<app-id>.yaml`) and text.
pub struct IndexSource<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

/// What the import made, and what it could not carry over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub configs: Vec<ImageConfig>,
    /// One line per thing not imported (a prebuild script, notification
    /// addresses), naming the entry.
    pub notes: Vec<String>,
}

/// `{app}-{job}-{tag}` as the pipeline names its jobs.
pub fn job_name(app: &str, job: &str, tag: &str) -> String {
    let raw = format!("{app}-{job}-{tag}").to_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        let c = if matches!(c, '_' | '/' | '.' | ':') {
            '-'
        } else {
            c
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').to_string()
}

fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Convert an index. `registry` (`host[:port]`) prefixes every output and
/// the parents' repositories; `None` leaves outputs to the server's default
/// registry.
pub fn import(files: &[IndexSource<'_>], registry: Option<&str>) -> Result<Imported, String> {
    let mut configs = Vec::new();
    let mut notes = Vec::new();
    let mut triples: HashMap<(String, String, String), String> = HashMap::new();
    for f in files {
        let stem = f
            .file
            .rsplit('/')
            .next()
            .unwrap_or(f.file)
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml");
        let index: IndexFile = serde_saphyr::from_str(f.text)
            .map_err(|e| format!("{}: not a container index file: {e}", f.file))?;
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (n, e) in index.projects.iter().enumerate() {
            let at = format!("{} entry {}", f.file, n + 1);
            let id = scalar(&e.id).ok_or_else(|| format!("{at}: id must be a number"))?;
            if let Some(first) = ids.insert(id.clone(), n + 1) {
                return Err(format!("{at}: id {id} is also used by entry {first}"));
            }
            if e.app_id != stem {
                return Err(format!(
                    "{at}: app-id {} must equal the file name {stem}",
                    e.app_id
                ));
            }
            let tag = scalar(&e.desired_tag)
                .unwrap_or_else(|| "latest".into())
                .trim()
                .to_string();
            let tag = if tag.is_empty() { "latest".into() } else { tag };
            let key = (e.app_id.clone(), e.job_id.clone(), tag.clone());
            if let Some(other) = triples.insert(key, at.clone()) {
                return Err(format!(
                    "{at}: {}/{}:{tag} is already built by {other}",
                    e.app_id, e.job_id
                ));
            }
            let git_path = e.git_path.clone().unwrap_or_else(|| ".".into());
            let context = clean_relative(&format!(
                "{git_path}/{}",
                e.build_context.as_deref().unwrap_or(".")
            ))
            .map_err(|err| format!("{at}: git-path/build-context: {err}"))?;
            let dockerfile_full = clean_relative(&format!(
                "{git_path}/{}",
                e.target_file.as_deref().unwrap_or("Dockerfile")
            ))
            .map_err(|err| format!("{at}: git-path/target-file: {err}"))?;
            let dockerfile = if context == "." {
                dockerfile_full.clone()
            } else {
                dockerfile_full
                    .strip_prefix(&format!("{context}/"))
                    .map(str::to_string)
                    .ok_or_else(|| {
                        format!(
                            "{at}: the Dockerfile {dockerfile_full} is outside the build context {context}"
                        )
                    })?
            };
            let depends_on = match &e.depends_on {
                None => Vec::new(),
                Some(DependsOn::One(s)) => vec![s.clone()],
                Some(DependsOn::Many(v)) => v.iter().flatten().cloned().collect(),
            };
            let depends_on: Vec<String> = depends_on
                .into_iter()
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty() && d != "null")
                .collect();
            let name = job_name(&e.app_id, &e.job_id, &tag);
            if e.prebuild_script.is_some() || e.prebuild_context.is_some() {
                notes.push(format!(
                    "{name}: prebuild-script is not imported; put the command in the repository's slipway.yaml as prebuild"
                ));
            }
            // The pipeline mailed its results to notify-email.
            let notify: Vec<crate::notify::NotifyTarget> = e
                .notify_email
                .iter()
                .map(|m| m.trim())
                .filter(|m| !m.is_empty())
                .map(|m| crate::notify::NotifyTarget {
                    email: vec![m.to_string()],
                    ..Default::default()
                })
                .collect();
            let repo = format!("{}/{}", e.app_id, e.job_id).to_lowercase();
            configs.push(ImageConfig {
                name,
                source: ConfigSource {
                    url: e.git_url.clone(),
                    branch: e.git_branch.clone().unwrap_or_else(|| "master".into()),
                    context_dir: (context != ".").then_some(context),
                    dockerfile: (dockerfile != "Dockerfile").then_some(dockerfile),
                },
                output: match registry {
                    Some(r) => format!("{r}/{repo}:{tag}"),
                    None => format!("{repo}:{tag}"),
                },
                platforms: Vec::new(),
                build_args: BTreeMap::new(),
                labels: BTreeMap::new(),
                network: false,
                depends_on,
                triggers: Triggers::default(),
                run_policy: RunPolicy::Serial,
                history: HistoryLimits::default(),
                scan: Default::default(),
                project: None,
                notify,
                promote: None,
                verify_reproducible: false,
            });
        }
    }
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Imported { configs, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENTOS: &str = r#"
Projects:
  - id: 1
    app-id: centos
    job-id: base
    git-url: https://git.example.com/centos/base
    git-path: docker
    git-branch: main
    target-file: Dockerfile
    desired-tag: 7
    notify-email: ops@example.com
    depends-on: null
"#;

    const APPS: &str = r#"
Projects:
  - id: 1
    app-id: apps
    job-id: web_server
    git-url: https://git.example.com/apps/web
    git-path: images/web
    target-file: Dockerfile.centos
    build-context: ../
    desired-tag: latest
    depends-on: centos/base:7
  - id: 2
    app-id: apps
    job-id: tool
    git-url: https://git.example.com/apps/tool
    desired-tag: "1.0"
    depends-on:
      - apps/web_server:latest
      - null
    prebuild-script: hooks/pre.sh
    prebuild-context: /
"#;

    #[test]
    fn converts_entries_and_dependencies() {
        let out = import(
            &[
                IndexSource {
                    file: "index.d/centos.yaml",
                    text: CENTOS,
                },
                IndexSource {
                    file: "index.d/apps.yaml",
                    text: APPS,
                },
            ],
            Some("127.0.0.1:5000"),
        )
        .unwrap();
        let names: Vec<&str> = out.configs.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["apps-tool-1-0", "apps-web-server-latest", "centos-base-7"]
        );
        let web = &out.configs[1];
        assert_eq!(web.output, "127.0.0.1:5000/apps/web_server:latest");
        assert_eq!(web.source.branch, "master");
        assert_eq!(web.source.context_dir.as_deref(), Some("images"));
        assert_eq!(
            web.source.dockerfile.as_deref(),
            Some("web/Dockerfile.centos")
        );
        assert_eq!(web.depends_on, ["centos/base:7"]);
        assert_eq!(out.configs[0].depends_on, ["apps/web_server:latest"]);
        assert_eq!(out.configs[2].source.context_dir.as_deref(), Some("docker"));
        assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
        assert_eq!(
            out.configs
                .iter()
                .flat_map(|c| c.notify.iter().flat_map(|t| t.email.clone()))
                .collect::<Vec<_>>(),
            ["ops@example.com"]
        );
        // The configs validate and form the expected graph.
        let inputs: Vec<_> = out
            .configs
            .iter()
            .map(|c| {
                let v = c.validate(None).unwrap();
                crate::rebuild::GraphInput {
                    name: v.name.clone(),
                    output: v.output_ref().unwrap(),
                    base_images: vec![],
                    depends_on: v.depends_on.clone(),
                }
            })
            .collect();
        let g = crate::rebuild::ConfigGraph::build(&inputs).unwrap();
        let order: Vec<&str> = g.topological().iter().map(|&i| g.name(i)).collect();
        assert_eq!(
            order,
            ["centos-base-7", "apps-web-server-latest", "apps-tool-1-0"]
        );
    }

    #[test]
    fn index_rules_are_enforced() {
        let wrong_file = import(
            &[IndexSource {
                file: "other.yaml",
                text: CENTOS,
            }],
            None,
        );
        assert!(wrong_file.unwrap_err().contains("file name"));
        let dup = format!(
            "{CENTOS}  - id: 1\n    app-id: centos\n    job-id: x\n    git-url: u\n    desired-tag: 1\n"
        );
        assert!(
            import(
                &[IndexSource {
                    file: "centos.yaml",
                    text: &dup
                }],
                None
            )
            .unwrap_err()
            .contains("id 1")
        );
        let twice = format!(
            "{CENTOS}  - id: 2\n    app-id: centos\n    job-id: base\n    git-url: u\n    desired-tag: 7\n"
        );
        assert!(
            import(
                &[IndexSource {
                    file: "centos.yaml",
                    text: &twice
                }],
                None
            )
            .unwrap_err()
            .contains("already built")
        );
        assert!(
            import(
                &[IndexSource {
                    file: "centos.yaml",
                    text: "Projects: 3"
                }],
                None
            )
            .is_err()
        );
        let outside = CENTOS.replace("target-file: Dockerfile", "target-file: ../Dockerfile");
        assert!(
            import(
                &[IndexSource {
                    file: "centos.yaml",
                    text: &outside
                }],
                None
            )
            .is_err()
        );
    }

    #[test]
    fn job_names_follow_the_pipeline() {
        assert_eq!(job_name("Apps", "web_server", "1.0"), "apps-web-server-1-0");
        assert_eq!(job_name("a", "b/c", "x:y"), "a-b-c-x-y");
    }
}
