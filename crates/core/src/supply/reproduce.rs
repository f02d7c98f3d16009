//! Reproducible builds: the inputs a rebuild takes from the build it
//! checks, and how the two builds' images are compared.
//!
//! A rebuild (`slipway rebuild --verify`) runs the original's prepared
//! spec again: the same commit, labels (the release included), build
//! arguments and platforms, the same `SOURCE_DATE_EPOCH`, and its base
//! images named as the original named them (by tag, or pinned to a
//! digest when a wave pinned them: buildah writes the name it used into
//! the image's history). Its images are then compared platform by
//! platform: the manifest digests, and when they differ the base image
//! (a tag that moved since), the layers in order (the first differing
//! layer, and the steps that made it) or else the config (which of its
//! fields differ).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The annotations buildah gives an image about its base.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// Where two images of one platform first differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// `base` (the base image's tag names another image now), `layer` or
    /// `config`.
    pub what: String,
    /// The layer's position, 1 for the base layer (for `layer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// The original's digest of it (`None`: the original has no such layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt: Option<String>,
    /// The Dockerfile steps that made the layer, as the rebuilt image's
    /// history says them (`RUN date > /built-at`; metadata steps such as
    /// LABEL left out). buildah commits a build's own steps as one layer,
    /// so that layer lists all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// For `config`: the fields that differ (`created`, `config.Labels.x`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl Difference {
    /// One line for people: `layer 3 (RUN date > /built-at): sha256:… ≠ sha256:…`.
    pub fn describe(&self) -> String {
        match self.what.as_str() {
            "layer" => {
                let n = self.layer.unwrap_or(0);
                let step = if self.steps.is_empty() {
                    String::new()
                } else {
                    format!(" (made by {})", self.steps.join("; "))
                };
                let shown = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
                format!(
                    "layer {n}{step} differs: {} in the original, {} rebuilt",
                    shown(&self.original),
                    shown(&self.rebuilt)
                )
            }
            "base" => format!(
                "the base image {} moved: the original was built on {}, the rebuild on {}; a build on a moving tag is reproducible only while the tag stays",
                self.steps.first().map(String::as_str).unwrap_or("?"),
                self.original.as_deref().unwrap_or("?"),
                self.rebuilt.as_deref().unwrap_or("?")
            ),
            _ => format!(
                "the layers are identical; the image config differs in {}",
                if self.fields.is_empty() {
                    "its encoding".to_string()
                } else {
                    self.fields.join(", ")
                }
            ),
        }
    }
}

/// For each layer, in order, the history steps that made it: those since
/// the previous layer's, up to the entry that has it (entries marked
/// `empty_layer` made none of their own), metadata steps (`#(nop)`) left
/// out, the shell prefix dropped (`RUN date > /x`).
fn layer_steps(config: &Value) -> Vec<Vec<String>> {
    let mut layers = Vec::new();
    let mut pending = Vec::new();
    for entry in config["history"].as_array().into_iter().flatten() {
        if let Some(by) = entry["created_by"].as_str()
            && !by.contains("#(nop)")
        {
            let by = by.trim();
            let shown = match by.strip_prefix("/bin/sh -c ") {
                Some(command) => format!("RUN {}", command.trim()),
                None => by.to_string(),
            };
            pending.push(shown);
        }
        if !entry["empty_layer"].as_bool().unwrap_or(false) {
            layers.push(std::mem::take(&mut pending));
        }
    }
    layers
}

fn layer_digests(manifest: &Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|d| d["digest"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The paths of the leaves that differ between two JSON values, at most
/// `max` of them (`config.Labels.build-date`, `history[3].created_by`).
fn differing_fields(a: &Value, b: &Value, path: &str, out: &mut Vec<String>, max: usize) {
    if out.len() >= max || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                differing_fields(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &p,
                    out,
                    max,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                differing_fields(a, b, &format!("{path}[{i}]"), out, max);
            }
        }
        _ => out.push(if path.is_empty() {
            "the whole config".into()
        } else {
            path.to_string()
        }),
    }
}

/// Where the rebuilt image (`manifest`, `config`) first differs from the
/// original; `None` when their layers and configs are the same.
pub fn first_difference(
    original: (&Value, &Value),
    rebuilt: (&Value, &Value),
) -> Option<Difference> {
    let base = |m: &Value| m["annotations"][BASE_DIGEST].as_str().map(str::to_string);
    if let (Some(a), Some(b)) = (base(original.0), base(rebuilt.0))
        && a != b
    {
        return Some(Difference {
            what: "base".into(),
            layer: None,
            original: Some(a),
            rebuilt: Some(b),
            steps: rebuilt.0["annotations"][BASE_NAME]
                .as_str()
                .map(|n| vec![n.to_string()])
                .unwrap_or_default(),
            fields: Vec::new(),
        });
    }
    let (a, b) = (layer_digests(original.0), layer_digests(rebuilt.0));
    let steps = layer_steps(rebuilt.1);
    for i in 0..a.len().max(b.len()) {
        if a.get(i) != b.get(i) {
            return Some(Difference {
                what: "layer".into(),
                layer: Some(i + 1),
                original: a.get(i).cloned(),
                rebuilt: b.get(i).cloned(),
                steps: steps.get(i).cloned().unwrap_or_default(),
                fields: Vec::new(),
            });
        }
    }
    if original.1 == rebuilt.1 && original.0["config"] == rebuilt.0["config"] {
        return None;
    }
    let mut fields = Vec::new();
    differing_fields(original.1, rebuilt.1, "", &mut fields, 8);
    Some(Difference {
        what: "config".into(),
        layer: None,
        original: original.0["config"]["digest"].as_str().map(str::to_string),
        rebuilt: rebuilt.0["config"]["digest"].as_str().map(str::to_string),
        steps: Vec::new(),
        fields,
    })
}

/// One platform's comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformResult {
    pub platform: String,
    /// The images' manifest digests.
    pub original: String,
    pub rebuilt: String,
    pub identical: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difference: Option<Difference>,
}

/// What a rebuild found: kept with the original build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reproduction {
    /// The build checked.
    pub build: i64,
    /// The build that rebuilt it.
    pub rebuild: i64,
    /// Every platform's image, and the index of several, came out the same.
    pub identical: bool,
    /// The two images as published (an index for several platforms).
    pub original: String,
    pub rebuilt: String,
    pub platforms: Vec<PlatformResult>,
    /// RFC 3339.
    pub checked_at: String,
}

impl Reproduction {
    /// One line for people.
    pub fn summary(&self) -> String {
        if self.identical {
            return format!(
                "build {} is reproducible: rebuild {} gave the same image {}",
                self.build, self.rebuild, self.rebuilt
            );
        }
        let first = self
            .platforms
            .iter()
            .find(|p| !p.identical)
            .map(|p| {
                format!(
                    "; {}: {}",
                    p.platform,
                    p.difference
                        .as_ref()
                        .map(Difference::describe)
                        .unwrap_or_else(|| "the manifests differ".into())
                )
            })
            .unwrap_or_default();
        format!(
            "build {} is not reproducible: rebuild {} gave {} instead of {}{first}",
            self.build, self.rebuild, self.rebuilt, self.original
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(layers: &[&str], steps: &[(&str, bool)], label: &str) -> (Value, Value) {
        let manifest = json!({
            "config": {"digest": format!("sha256:c-{label}")},
            "layers": layers.iter().map(|d| json!({"digest": d})).collect::<Vec<_>>(),
        });
        let config = json!({
            "created": "2026-01-01T00:00:00Z",
            "config": {"Labels": {"release": label}},
            "history": steps.iter().map(|(s, empty)| json!({"created_by": s, "empty_layer": empty})).collect::<Vec<_>>(),
        });
        (manifest, config)
    }

    #[test]
    fn the_first_differing_layer_is_named_with_its_step() {
        let steps = [
            ("/bin/sh -c #(nop) ADD file:abc in /", false),
            ("/bin/sh -c #(nop) LABEL a=b", true),
            ("/bin/sh -c echo steady > /s", true),
            ("/bin/sh -c date > /x", true),
            ("/bin/sh -c #(nop) LABEL c=d", false),
            ("/bin/sh -c true", false),
        ];
        let a = image(&["sha256:1", "sha256:2", "sha256:3"], &steps, "1");
        let b = image(&["sha256:1", "sha256:9", "sha256:8"], &steps, "1");
        let d = first_difference((&a.0, &a.1), (&b.0, &b.1)).unwrap();
        assert_eq!(d.what, "layer");
        assert_eq!(d.layer, Some(2));
        assert_eq!(d.steps, ["RUN echo steady > /s", "RUN date > /x"]);
        assert_eq!(d.original.as_deref(), Some("sha256:2"));
        assert_eq!(d.rebuilt.as_deref(), Some("sha256:9"));
        assert!(
            d.describe()
                .contains("layer 2 (made by RUN echo steady > /s; RUN date > /x) differs"),
            "{}",
            d.describe()
        );
        // A layer more.
        let c = image(
            &["sha256:1", "sha256:2", "sha256:3", "sha256:4"],
            &steps,
            "1",
        );
        let d = first_difference((&a.0, &a.1), (&c.0, &c.1)).unwrap();
        assert_eq!((d.layer, d.original.as_deref()), (Some(4), None));
    }

    #[test]
    fn a_moved_base_is_said_first() {
        let mut a = image(&["sha256:1", "sha256:2"], &[("COPY x", false)], "1");
        let mut b = image(&["sha256:9", "sha256:2"], &[("COPY x", false)], "1");
        a.0["annotations"] = json!({BASE_NAME: "r/base:1", BASE_DIGEST: "sha256:aa"});
        b.0["annotations"] = json!({BASE_NAME: "r/base:1", BASE_DIGEST: "sha256:bb"});
        let d = first_difference((&a.0, &a.1), (&b.0, &b.1)).unwrap();
        assert_eq!(d.what, "base");
        assert!(d.describe().contains("r/base:1 moved"), "{}", d.describe());
        // The same base: the layers are compared.
        b.0["annotations"] = a.0["annotations"].clone();
        assert_eq!(
            first_difference((&a.0, &a.1), (&b.0, &b.1)).unwrap().what,
            "layer"
        );
    }

    #[test]
    fn same_layers_different_config_names_the_fields() {
        let a = image(&["sha256:1"], &[("COPY x", false)], "1");
        let b = image(&["sha256:1"], &[("COPY x", false)], "2");
        assert_eq!(layer_steps(&a.1), vec![vec!["COPY x".to_string()]]);
        let d = first_difference((&a.0, &a.1), (&b.0, &b.1)).unwrap();
        assert_eq!(d.what, "config");
        assert_eq!(d.fields, ["config.Labels.release"]);
        assert!(d.describe().contains("config.Labels.release"));
        assert_eq!(first_difference((&a.0, &a.1), (&a.0, &a.1)), None);
    }
}
