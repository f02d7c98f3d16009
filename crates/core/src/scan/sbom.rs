//! Software bills of materials: an image's [`Inventory`] written as an
//! SPDX 2.3 or a CycloneDX 1.5 JSON document.
//!
//! Both documents describe the image (its repository and manifest digest)
//! as the top element, which contains its operating system and every
//! package, each with its package URL and supplier. A declared licence
//! that is SPDX (the inventory maps what it can, `scan::license`) is
//! SPDX's `licenseDeclared` and CycloneDX's `license.id` or `expression`;
//! free text is an extracted licence (`LicenseRef-…`) in SPDX and a
//! `license.name` in CycloneDX.
//!
//! The output depends only on the arguments: the same inventory, subject
//! and time give the same bytes (identifiers are derived from them).

use crate::scan::inventory::{Inventory, Package, percent_encode};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The SBOM formats Slipway writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SbomFormat {
    #[serde(rename = "spdx")]
    Spdx,
    #[serde(rename = "cyclonedx")]
    CycloneDx,
}

impl SbomFormat {
    pub const ALL: [SbomFormat; 2] = [SbomFormat::Spdx, SbomFormat::CycloneDx];

    pub fn as_str(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "spdx",
            SbomFormat::CycloneDx => "cyclonedx",
        }
    }

    /// The specification version written.
    pub fn spec(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "SPDX 2.3",
            SbomFormat::CycloneDx => "CycloneDX 1.5",
        }
    }

    /// The media type of the document, used as the OCI `artifactType` of
    /// the referrer that carries it and as its layer's media type.
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "application/spdx+json",
            SbomFormat::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }

    /// The file name the document has in its artifact.
    pub fn file_name(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "sbom.spdx.json",
            SbomFormat::CycloneDx => "sbom.cdx.json",
        }
    }
}

impl fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SbomFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "spdx" | "spdx-json" | "spdx-2.3" => Ok(SbomFormat::Spdx),
            "cyclonedx" | "cdx" | "cyclonedx-json" | "cyclonedx-1.5" => Ok(SbomFormat::CycloneDx),
            _ => Err(format!("unknown SBOM format {s:?}: use spdx or cyclonedx")),
        }
    }
}

/// The image an SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomSubject {
    /// `registry/name` (no tag or digest).
    pub repository: String,
    /// The image manifest's digest, `sha256:…`.
    pub digest: String,
}

impl SbomSubject {
    /// `pkg:oci/name@sha256%3A…?repository_url=registry/name`.
    fn purl(&self) -> String {
        let name = self
            .repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository);
        format!(
            "pkg:oci/{}@{}?repository_url={}",
            percent_encode(name),
            percent_encode(&self.digest),
            percent_encode(&self.repository)
        )
    }
}

/// An SBOM as the server keeps it: made at the end of a build from its
/// scan's inventory and attached to its image (the document itself is
/// served separately).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSbom {
    pub build: crate::BuildId,
    /// The build platform whose image it describes.
    #[serde(default)]
    pub platform: String,
    pub format: SbomFormat,
    /// The media type, also the referrer's `artifactType`.
    pub artifact_type: String,
    /// The image described, `registry/name@sha256:…`.
    pub subject: String,
    /// The referrer artifact, `registry/name@sha256:…`; `None` when it
    /// could not be attached (see `problem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Packages listed (the operating system and the image not counted).
    pub packages: usize,
    #[serde(with = "crate::api::time::seconds")]
    pub created_at: Timestamp,
}

/// The tool named as the documents' creator.
const TOOL: &str = concat!("slipway-", env!("CARGO_PKG_VERSION"));

/// `inventory` as a document of `format`, created at `created`.
pub fn document(
    format: SbomFormat,
    subject: &SbomSubject,
    inventory: &Inventory,
    created: Timestamp,
) -> Value {
    match format {
        SbomFormat::Spdx => spdx(subject, inventory, created),
        SbomFormat::CycloneDx => cyclonedx(subject, inventory, created),
    }
}

fn created_text(created: Timestamp) -> String {
    // Whole seconds, `Z`: the form both schemas' date-time accepts and
    // SPDX's spec shows.
    created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// 32 hex digits derived from the document's inputs.
fn fingerprint(format: SbomFormat, subject: &SbomSubject, created: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        format.as_str(),
        &subject.repository,
        &subject.digest,
        created,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

fn spdx(subject: &SbomSubject, inventory: &Inventory, created: Timestamp) -> Value {
    let created = created_text(created);
    let image_id = "SPDXRef-Image";
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": subject.repository,
        "versionInfo": subject.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": subject.purl(),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    if let Some(os) = &inventory.os {
        let mut p = json!({
            "SPDXID": "SPDXRef-OperatingSystem",
            "name": os.id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING_SYSTEM",
        });
        if let Some(v) = &os.version_id {
            p["versionInfo"] = json!(v);
        }
        if let Some(name) = &os.pretty_name {
            p["description"] = json!(name);
        }
        packages.push(p);
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": "SPDXRef-OperatingSystem",
        }));
    }
    let mut extracted: Vec<Value> = Vec::new();
    for (i, pkg) in inventory.packages.iter().enumerate() {
        let id = format!(
            "SPDXRef-Package-{}-{}",
            pkg.ecosystem,
            spdx_id_part(&pkg.name, i)
        );
        // Every licence declared (a Debian package's files are under all
        // the licences its copyright file names); free text as an
        // extracted licence, named by its digest.
        let mut parts: Vec<String> = Vec::new();
        for l in &pkg.licenses {
            let part = if crate::scan::license::is_expression(l) {
                if l.contains(' ') && pkg.licenses.len() > 1 {
                    format!("({l})")
                } else {
                    l.clone()
                }
            } else {
                let reference = format!("LicenseRef-{}", &hex::encode(Sha256::digest(l))[..16]);
                if !extracted
                    .iter()
                    .any(|e| e["licenseId"] == reference.as_str())
                {
                    extracted.push(json!({
                        "licenseId": reference,
                        "extractedText": l,
                        "name": l.chars().take(80).collect::<String>(),
                    }));
                }
                reference
            };
            parts.push(part);
        }
        let declared = if parts.is_empty() {
            "NOASSERTION".to_string()
        } else {
            parts.join(" AND ")
        };
        let mut p = json!({
            "SPDXID": id,
            "name": pkg.name,
            "versionInfo": pkg.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": declared,
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": if pkg.ecosystem.is_system() { "INSTALL" } else { "LIBRARY" },
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": pkg.purl(inventory.os.as_ref()),
            }],
            "comment": comment(pkg),
        });
        if let Some(source) = &pkg.source {
            p["sourceInfo"] = json!(format!("built from the source package {source}"));
        }
        if let Some(s) = &pkg.supplier {
            p["supplier"] = json!(spdx_supplier(s));
        }
        if pkg.application {
            p["primaryPackagePurpose"] = json!("APPLICATION");
        }
        // The language packages it installed: their identities on it, not
        // packages of their own (one package, several package URLs).
        if let Some(refs) = p["externalRefs"].as_array_mut() {
            for purl in &pkg.includes {
                refs.push(json!({
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": purl,
                    "comment": "a language package this package installs",
                }));
            }
        }
        packages.push(p);
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let fp = fingerprint(SbomFormat::Spdx, subject, &created);
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", subject.repository, subject.digest),
        "documentNamespace": format!("urn:slipway:spdx:{}:{fp}", subject.digest),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: {TOOL}")],
        },
        "documentDescribes": [image_id],
        "packages": packages,
        "relationships": relationships,
    });
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = json!(extracted);
    }
    doc
}

/// SPDX's supplier field from a `Name <email>` (a maintainer is usually a
/// team): `Organization: Name (email)`.
fn spdx_supplier(who: &str) -> String {
    let (name, email) = split_contact(who);
    match email {
        Some(e) => format!("Organization: {name} ({e})"),
        None => format!("Organization: {name}"),
    }
}

/// `Name <email>` → (`Name`, `email`).
fn split_contact(who: &str) -> (&str, Option<&str>) {
    match who.split_once('<') {
        Some((name, rest)) => (
            name.trim(),
            rest.split_once('>')
                .map(|(e, _)| e.trim())
                .filter(|e| !e.is_empty()),
        ),
        None => (who.trim(), None),
    }
}

/// Where the package was found, and its declared license as written.
fn comment(pkg: &Package) -> String {
    let mut out = format!("listed by {}", pkg.found_in);
    if !pkg.licenses.is_empty() {
        out.push_str(&format!("; declared license: {}", pkg.licenses.join(", ")));
    }
    out
}

/// A name made fit for an SPDX identifier (`[A-Za-z0-9.-]`), with the
/// package's position so that identifiers stay unique.
fn spdx_id_part(name: &str, i: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{clean}-{i}")
}

fn cyclonedx(subject: &SbomSubject, inventory: &Inventory, created: Timestamp) -> Value {
    let created = created_text(created);
    let fp = fingerprint(SbomFormat::CycloneDx, subject, &created);
    // A name-based UUID (version 5 layout) from the fingerprint.
    let serial = format!(
        "urn:uuid:{}-{}-5{}-{:x}{}-{}",
        &fp[0..8],
        &fp[8..12],
        &fp[13..16],
        (u8::from_str_radix(&fp[16..17], 16).unwrap_or(0) & 0x3) | 0x8,
        &fp[17..20],
        &fp[20..32]
    );
    let mut components = Vec::new();
    let mut refs = Vec::new();
    if let Some(os) = &inventory.os {
        let mut c = json!({
            "type": "operating-system",
            "bom-ref": "os",
            "name": os.id,
        });
        if let Some(v) = &os.version_id {
            c["version"] = json!(v);
        }
        if let Some(name) = &os.pretty_name {
            c["description"] = json!(name);
        }
        components.push(c);
        refs.push("os".to_string());
    }
    for (i, pkg) in inventory.packages.iter().enumerate() {
        let bom_ref = format!("package-{i}");
        let mut c = json!({
            "type": "library",
            "bom-ref": bom_ref,
            "name": pkg.name,
            "version": pkg.version,
            "purl": pkg.purl(inventory.os.as_ref()),
            "properties": [
                {"name": "slipway:ecosystem", "value": pkg.ecosystem.as_str()},
                {"name": "slipway:found_in", "value": pkg.found_in},
            ],
        });
        // CycloneDX takes one expression, or a list of licences.
        let one_expression = match &pkg.licenses[..] {
            [l] if l.contains(' ') && crate::scan::license::is_expression(l) => Some(l),
            _ => None,
        };
        if let Some(e) = one_expression {
            c["licenses"] = json!([{ "expression": e }]);
        } else if !pkg.licenses.is_empty() {
            c["licenses"] = pkg
                .licenses
                .iter()
                .map(|l| {
                    if spdx::license_id(l).is_some() && !l.contains(' ') {
                        json!({"license": {"id": l}})
                    } else {
                        json!({"license": {"name": l}})
                    }
                })
                .collect();
        }
        if let Some(s) = &pkg.supplier {
            let (name, email) = split_contact(s);
            c["supplier"] = match email {
                Some(e) => json!({"name": name, "contact": [{"email": e}]}),
                None => json!({"name": name}),
            };
        }
        if let Some(props) = c["properties"].as_array_mut() {
            if let Some(source) = &pkg.source {
                props.push(json!({"name": "slipway:source_package", "value": source}));
            }
            for purl in &pkg.includes {
                props.push(json!({"name": "slipway:includes", "value": purl}));
            }
        }
        if pkg.application {
            c["type"] = json!("application");
        }
        components.push(c);
        refs.push(bom_ref);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "slipway",
                    "version": env!("CARGO_PKG_VERSION"),
                }],
            },
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": subject.repository,
                "version": subject.digest,
                "purl": subject.purl(),
            },
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": refs}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::inventory::{Ecosystem, OsRelease};

    fn inventory() -> Inventory {
        Inventory {
            os: Some(OsRelease {
                id: "debian".into(),
                version_id: Some("12".into()),
                pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            }),
            packages: vec![
                Package {
                    ecosystem: Ecosystem::Deb,
                    name: "libc6".into(),
                    version: "2.36-9+deb12u4".into(),
                    arch: Some("amd64".into()),
                    source: Some("glibc".into()),
                    licenses: vec!["custom terms".into(), "GPL-2.0-or-later".into()],
                    supplier: Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>".into()),
                    found_in: "/var/lib/dpkg/status".into(),
                    includes: Vec::new(),
                    application: false,
                },
                Package {
                    ecosystem: Ecosystem::Npm,
                    name: "@scope/left_pad".into(),
                    version: "1.3.0".into(),
                    arch: None,
                    source: None,
                    licenses: vec!["MIT".into()],
                    supplier: None,
                    found_in: "/app/node_modules/@scope/left_pad/package.json".into(),
                    includes: Vec::new(),
                    application: false,
                },
            ],
        }
    }

    fn subject() -> SbomSubject {
        SbomSubject {
            repository: "localhost:5000/team/app".into(),
            digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                .into(),
        }
    }

    fn at() -> Timestamp {
        "2026-11-23T10:00:00.5Z".parse().unwrap()
    }

    #[test]
    fn spdx_describes_the_image_which_contains_every_package() {
        let d = document(SbomFormat::Spdx, &subject(), &inventory(), at());
        assert_eq!(d["spdxVersion"], "SPDX-2.3");
        assert_eq!(d["creationInfo"]["created"], "2026-11-23T10:00:00Z");
        let packages = d["packages"].as_array().unwrap();
        let ids: Vec<&str> = packages
            .iter()
            .map(|p| p["SPDXID"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "SPDXRef-Image",
                "SPDXRef-OperatingSystem",
                "SPDXRef-Package-deb-libc6-0",
                "SPDXRef-Package-npm--scope-left-pad-1"
            ]
        );
        assert_eq!(
            packages[2]["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            packages[2]["sourceInfo"],
            "built from the source package glibc"
        );
        assert!(
            packages[3]["comment"]
                .as_str()
                .unwrap()
                .ends_with("declared license: MIT")
        );
        assert_eq!(packages[3]["licenseDeclared"], "MIT");
        // Free text is an extracted licence, named by its digest.
        let declared = packages[2]["licenseDeclared"].as_str().unwrap();
        let (reference, gpl) = declared.split_once(" AND ").unwrap();
        assert!(reference.starts_with("LicenseRef-"), "{declared}");
        assert_eq!(gpl, "GPL-2.0-or-later");
        assert_eq!(d["hasExtractedLicensingInfos"][0]["licenseId"], reference);
        assert_eq!(
            packages[2]["supplier"],
            "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
        );
        let contains: Vec<&str> = d["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relationshipType"] == "CONTAINS")
            .map(|r| r["relatedSpdxElement"].as_str().unwrap())
            .collect();
        assert_eq!(contains, &ids[1..]);
        assert_eq!(
            packages[0]["externalRefs"][0]["referenceLocator"],
            "pkg:oci/app@sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef?repository_url=localhost%3A5000%2Fteam%2Fapp"
        );
    }

    #[test]
    fn cyclonedx_lists_components_under_the_container() {
        let d = document(SbomFormat::CycloneDx, &subject(), &inventory(), at());
        assert_eq!(d["specVersion"], "1.5");
        assert_eq!(d["metadata"]["component"]["type"], "container");
        let serial = d["serialNumber"].as_str().unwrap();
        let uuid = serial.strip_prefix("urn:uuid:").unwrap();
        let parts: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(uuid.as_bytes()[14] == b'5');
        assert!(matches!(uuid.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        let components = d["components"].as_array().unwrap();
        assert_eq!(components[0]["type"], "operating-system");
        assert_eq!(components[2]["purl"], "pkg:npm/%40scope/left_pad@1.3.0");
        assert_eq!(components[2]["licenses"][0]["license"]["id"], "MIT");
        assert_eq!(
            components[1]["licenses"][0]["license"]["name"],
            "custom terms"
        );
        assert_eq!(
            components[1]["licenses"][1]["license"]["id"],
            "GPL-2.0-or-later"
        );
        assert_eq!(components[1]["supplier"]["name"], "GNU Libc Maintainers");
        assert_eq!(
            d["dependencies"][0]["dependsOn"],
            json!(["os", "package-0", "package-1"])
        );
    }

    #[test]
    fn the_same_inputs_give_the_same_document_and_another_time_another_id() {
        let a = document(SbomFormat::CycloneDx, &subject(), &inventory(), at());
        let b = document(SbomFormat::CycloneDx, &subject(), &inventory(), at());
        assert_eq!(a, b);
        let later = document(
            SbomFormat::CycloneDx,
            &subject(),
            &inventory(),
            "2026-11-24T10:00:00Z".parse().unwrap(),
        );
        assert_ne!(a["serialNumber"], later["serialNumber"]);
        let s1 = document(SbomFormat::Spdx, &subject(), &inventory(), at());
        let s2 = document(
            SbomFormat::Spdx,
            &subject(),
            &inventory(),
            "2026-11-24T10:00:00Z".parse().unwrap(),
        );
        assert_ne!(s1["documentNamespace"], s2["documentNamespace"]);
    }

    #[test]
    fn formats_parse_from_their_names() {
        assert_eq!("SPDX".parse::<SbomFormat>(), Ok(SbomFormat::Spdx));
        assert_eq!("cdx".parse::<SbomFormat>(), Ok(SbomFormat::CycloneDx));
        assert!(
            "xml"
                .parse::<SbomFormat>()
                .unwrap_err()
                .contains("spdx or cyclonedx")
        );
    }
}
