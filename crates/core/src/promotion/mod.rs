//! Promotion: moving a built image from where builds push (the candidate
//! repository) to an environment's repository, once its gates pass.

use serde::{Deserialize, Serialize};

pub mod policy;

/// A condition an image must meet to enter an environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// The build's test stage ran and passed.
    TestsPassed,
    /// The newest scan of the build's image found nothing its policy
    /// fails on (and could read the image).
    ScanClean,
    /// SBOMs are attached to the image.
    SbomAttached,
    /// Every manifest of the image (each platform's and their index) has a
    /// signature in the registry that verifies with the server's key.
    Signed,
    /// The image's provenance is kept with the build, verifies with the
    /// server's key, names the image, and is attached to it.
    Provenance,
    /// A rebuild of the build's inputs gave the same image (the newest
    /// one, `slipway rebuild --verify`).
    Reproducible,
}

impl Gate {
    pub const ALL: [Gate; 6] = [
        Gate::TestsPassed,
        Gate::ScanClean,
        Gate::SbomAttached,
        Gate::Signed,
        Gate::Provenance,
        Gate::Reproducible,
    ];

    /// An environment's gates when it names none: all but `reproducible`
    /// (which needs a rebuild of each build).
    pub const DEFAULT: [Gate; 5] = [
        Gate::TestsPassed,
        Gate::ScanClean,
        Gate::SbomAttached,
        Gate::Signed,
        Gate::Provenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Gate::TestsPassed => "tests-passed",
            Gate::ScanClean => "scan-clean",
            Gate::SbomAttached => "sbom-attached",
            Gate::Signed => "signed",
            Gate::Provenance => "provenance",
            Gate::Reproducible => "reproducible",
        }
    }
}

/// What the gates look at, read for one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GateInputs {
    /// The test stage's outcome; `None`: it had none.
    pub test_passed: Option<bool>,
    /// The newest scan's outcome (`passed`, `failed`, `absent`, `error`);
    /// `None`: never scanned.
    pub scan_outcome: Option<String>,
    /// The build's platform images, and how many of them have an SBOM
    /// attached as a referrer in the registry (now, not when built: a
    /// deleted SBOM no longer counts).
    pub platform_images: usize,
    pub with_sbom: usize,
    /// The image's manifests (each platform's and their index), and how
    /// many have a signature in the registry that verifies with the
    /// server's key now.
    pub manifests: usize,
    pub signed: usize,
    /// Why the provenance does not do (`None`: it does): none kept, it
    /// does not verify, names another image, or is not attached.
    pub provenance_problem: Option<String>,
    /// The newest rebuild's verdict (`None`: never rebuilt to check).
    pub reproducible: Option<bool>,
}

/// The first gate of `gates` that the build does not pass, and why.
pub fn failed_gate(gates: &[Gate], inputs: &GateInputs) -> Option<(Gate, String)> {
    gates.iter().find_map(|&g| {
        let why = match g {
            Gate::TestsPassed => match inputs.test_passed {
                Some(true) => return None,
                Some(false) => "its test stage failed".to_string(),
                None => "it ran no test stage (add test: to its slipway.yaml)".to_string(),
            },
            Gate::ScanClean => match inputs.scan_outcome.as_deref() {
                Some("passed") => return None,
                Some(o) => format!("its newest scan's outcome is {o}"),
                None => "it was never scanned".to_string(),
            },
            Gate::SbomAttached => match (inputs.with_sbom, inputs.platform_images) {
                (with, all) if all > 0 && with >= all => return None,
                (0, _) => "no SBOM is attached to it (a rescan attaches them again)".to_string(),
                (with, all) => format!(
                    "only {with} of its {all} platform images have an SBOM attached (a rescan attaches them again)"
                ),
            },
            Gate::Signed => match (inputs.signed, inputs.manifests) {
                (signed, all) if all > 0 && signed >= all => return None,
                (0, _) => "no signature by this server's key is in the registry for it".to_string(),
                (signed, all) => format!(
                    "only {signed} of its {all} manifests have a signature by this server's key"
                ),
            },
            Gate::Provenance => match &inputs.provenance_problem {
                None => return None,
                Some(why) => why.clone(),
            },
            Gate::Reproducible => match inputs.reproducible {
                Some(true) => return None,
                Some(false) => "its newest rebuild gave another image (`slipway show BUILD --reproductions` says where)".to_string(),
                None => "it was never rebuilt to check (`slipway rebuild --verify BUILD`, or verify_reproducible: true in its config)".to_string(),
            },
        };
        Some((g, why))
    })
}

/// `promote:` in an image config: each complete build of it is promoted
/// to `to` when its gates pass (`when: gates-pass`, the only way so far).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoPromote {
    pub to: String,
    #[serde(default)]
    pub when: PromoteWhen,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromoteWhen {
    #[default]
    GatesPass,
}

/// `POST /promote`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// A build id, or `REPO:TAG` / `REPO@DIGEST` naming a build's image.
    pub what: String,
    /// The environment.
    pub to: String,
}

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub build: crate::BuildId,
    pub environment: String,
    /// `registry/repository` the image now also lives in.
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    /// The gates it passed.
    pub gates: Vec<Gate>,
}

/// The message that a promotion happened (`refused`: an automatic one
/// was refused, with why), for the config's notification targets.
pub fn message(
    build: crate::BuildId,
    config: Option<&str>,
    environment: &str,
    outcome: Result<&Promotion, &str>,
) -> crate::notify::Message {
    let name = config.unwrap_or("an ad-hoc build");
    match outcome {
        Ok(p) => crate::notify::Message {
            subject: format!("[slipway] build {build} of {name} promoted to {environment}"),
            text: format!(
                "Build {build} of {name} was promoted to {environment}.\n\nImage: {}@{}\nTags: {}\nGates passed: {}\n\n`slipway history {}:{}` shows every move of the tag.\n",
                p.repository,
                p.digest,
                p.tags.join(", "),
                p.gates
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                p.repository,
                p.tags.first().map(String::as_str).unwrap_or("latest"),
            ),
            payload: serde_json::json!({
                "event": "promotion",
                "build": build,
                "config": config,
                "environment": environment,
                "repository": p.repository,
                "digest": p.digest,
                "tags": p.tags,
                "gates": p.gates,
            }),
            failure: false,
        },
        Err(why) => crate::notify::Message {
            subject: format!("[slipway] build {build} of {name} not promoted to {environment}"),
            text: format!(
                "Build {build} of {name} was not promoted to {environment}: {why}\n\n`slipway promote {build} --to {environment}` tries again.\n"
            ),
            payload: serde_json::json!({
                "event": "promotion",
                "build": build,
                "config": config,
                "environment": environment,
                "refused": why,
            }),
            failure: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failed_gate_is_named() {
        let ok = GateInputs {
            test_passed: Some(true),
            scan_outcome: Some("passed".into()),
            platform_images: 2,
            with_sbom: 2,
            manifests: 3,
            signed: 3,
            provenance_problem: None,
            reproducible: Some(true),
        };
        assert_eq!(failed_gate(&Gate::ALL, &ok), None);
        let untested = GateInputs {
            test_passed: None,
            ..ok.clone()
        };
        let (g, why) = failed_gate(&Gate::ALL, &untested).unwrap();
        assert_eq!(g, Gate::TestsPassed);
        assert!(why.contains("no test stage"), "{why}");
        // Only the gates asked for count.
        assert_eq!(failed_gate(&[Gate::ScanClean], &untested), None);
        let dirty = GateInputs {
            scan_outcome: Some("failed".into()),
            ..ok.clone()
        };
        assert_eq!(failed_gate(&Gate::ALL, &dirty).unwrap().0, Gate::ScanClean);
        let bare = GateInputs {
            with_sbom: 0,
            ..ok.clone()
        };
        let (g, why) = failed_gate(&Gate::ALL, &bare).unwrap();
        assert_eq!(g, Gate::SbomAttached);
        assert!(why.starts_with("no SBOM is attached"), "{why}");
        // The supply-chain gates.
        let unsigned = GateInputs {
            signed: 2,
            ..ok.clone()
        };
        let (g, why) = failed_gate(&Gate::ALL, &unsigned).unwrap();
        assert_eq!(g, Gate::Signed);
        assert!(why.contains("only 2 of its 3 manifests"), "{why}");
        let no_provenance = GateInputs {
            provenance_problem: Some("none is kept with the build".into()),
            ..ok.clone()
        };
        assert_eq!(
            failed_gate(&Gate::ALL, &no_provenance),
            Some((Gate::Provenance, "none is kept with the build".into()))
        );
        for (verdict, says) in [(None, "never rebuilt"), (Some(false), "another image")] {
            let i = GateInputs {
                reproducible: verdict,
                ..ok.clone()
            };
            let (g, why) = failed_gate(&Gate::ALL, &i).unwrap();
            assert_eq!(g, Gate::Reproducible);
            assert!(why.contains(says), "{why}");
            // Not a default gate.
            assert_eq!(failed_gate(&Gate::DEFAULT, &i), None);
        }
        let half = GateInputs { with_sbom: 1, ..ok };
        let (_, why) = failed_gate(&[Gate::SbomAttached], &half).unwrap();
        assert!(why.contains("only 1 of its 2 platform images"), "{why}");
    }
}
