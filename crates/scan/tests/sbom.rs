//! SBOMs of a real image, attached as OCI referrers to Debian's
//! docker-registry (which has no referrers API, so the fallback tag lists
//! them), then discovered, pulled and validated against the SPDX 2.3 and
//! CycloneDX 1.5 schemas by oras-py and Python's jsonschema.

mod common;

use common::write;
use slipway_core::ImageRef;
use slipway_core::scan::sbom::{self, SbomFormat, SbomSubject};
use slipway_core::scan::{ScanOutcome, ScanPolicy};
use slipway_scan::image::FetchOptions;
use slipway_scan::referrer::{self, Artifact};
use slipway_test_support::{Registry, discover_sboms, host_paragraph, require_tools};
use std::collections::BTreeMap;

#[test]
fn sboms_of_an_image_validate_and_are_discovered_as_its_referrers() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let ctx = tempfile::tempdir().unwrap();
    let root = ctx.path().join("rootfs");
    let (bash, _) = host_paragraph("bash");
    let (sed, _) = host_paragraph("sed");
    write(&root, "var/lib/dpkg/status", &format!("{bash}\n\n{sed}\n"));
    write(
        &root,
        "etc/os-release",
        "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
    );
    write(
        &root,
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n",
    );
    write(
        &root,
        "app/node_modules/@babel/core/package.json",
        r#"{"name":"@babel/core","version":"7.24.0","license":"MIT"}"#,
    );
    let reference = registry.build_image(
        "sbom/app:1",
        &format!("FROM {base}\nCOPY rootfs/ /\n"),
        ctx.path(),
    );
    let work = tempfile::tempdir().unwrap();
    let opts = FetchOptions::insecure();
    let report =
        slipway_scan::scan_image(&reference, work.path(), &opts, &ScanPolicy::default(), None);
    assert_eq!(report.outcome, ScanOutcome::Passed, "{:?}", report.problems);
    let names: Vec<&str> = report
        .inventory
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["bash", "sed", "requests", "@babel/core"]);
    let digest = report.manifest_digest.clone().unwrap();
    let image = ImageRef::parse(&reference).unwrap();
    let repository = format!("{}/{}", image.registry, image.repository);
    let subject = SbomSubject {
        repository: repository.clone(),
        digest: digest.clone(),
    };
    let created = jiff::Timestamp::now();

    let mut attached = Vec::new();
    // Twice: attaching again replaces, and the fallback tag does not list
    // a referrer twice.
    for _ in 0..2 {
        attached.clear();
        for format in SbomFormat::ALL {
            let doc = sbom::document(format, &subject, &report.inventory, created);
            let bytes = serde_json::to_vec_pretty(&doc).unwrap();
            let a = referrer::attach(
                &format!("{repository}@{digest}"),
                &Artifact {
                    artifact_type: format.media_type(),
                    file_name: format.file_name(),
                    content: &bytes,
                    annotations: BTreeMap::from([(
                        "org.opencontainers.image.created".to_string(),
                        created.to_string(),
                    )]),
                },
                &opts,
            )
            .unwrap();
            assert!(
                !a.indexed_by_registry,
                "docker-registry has no referrers API"
            );
            attached.push((format, a.digest));
        }
    }

    let found = discover_sboms(&registry.host(), &image.repository, &digest, None);
    assert_eq!(found["api"], "tag", "{found}");
    let referrers = found["referrers"].as_array().unwrap();
    assert_eq!(referrers.len(), 2, "{found}");
    for (format, artifact) in &attached {
        let r = referrers
            .iter()
            .find(|r| r["digest"] == artifact.as_str())
            .unwrap_or_else(|| panic!("{format} not discovered: {found}"));
        assert_eq!(r["artifactType"], format.media_type());
        assert_eq!(r["valid"], true);
        // The OS and the four packages; SPDX lists the image as a package
        // too (CycloneDX has it as the metadata's component).
        let expected = match format {
            SbomFormat::Spdx => 6,
            SbomFormat::CycloneDx => 5,
        };
        assert_eq!(r["packages"], expected, "{format}: {found}");
    }
}

#[test]
fn attaching_to_an_image_that_is_not_there_says_so() {
    require_tools();
    let registry = Registry::start();
    let missing = format!("{}/sbom/none@sha256:{}", registry.host(), "0".repeat(64));
    let e = referrer::attach(
        &missing,
        &Artifact {
            artifact_type: SbomFormat::Spdx.media_type(),
            file_name: "sbom.spdx.json",
            content: b"{}",
            annotations: BTreeMap::new(),
        },
        &FetchOptions::insecure(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("has no manifest sha256:000"), "{e}");
    // A registry that is not listening: port 1 (a free port could be taken
    // by another test's server in between).
    let e = referrer::attach(
        &format!("127.0.0.1:1/a@sha256:{}", "1".repeat(64)),
        &Artifact {
            artifact_type: SbomFormat::Spdx.media_type(),
            file_name: "sbom.spdx.json",
            content: b"{}",
            annotations: BTreeMap::new(),
        },
        &FetchOptions::insecure(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("cannot attach to 127.0.0.1:"), "{e}");
}
