//! Golden tests per lint rule: a Dockerfile that triggers it (at the line
//! given) and one that must not. Rules whose default severity is `ignore`
//! are checked with an override that makes them visible.

use slipway_dockerfile::lint::{LintConfig, Severity, lint};
use slipway_dockerfile::parse;

fn findings(text: &str, config: &LintConfig) -> Vec<(String, usize)> {
    lint(&parse(text).expect("parses"), config)
        .into_iter()
        .map(|f| (f.code, f.line))
        .collect()
}

/// `bad` reports `code` at `line`; `good` does not report `code`.
fn golden(code: &str, bad: &str, line: usize, good: &str, config: &LintConfig) {
    let got = findings(bad, config);
    assert!(
        got.contains(&(code.to_string(), line)),
        "{code} not reported at line {line} for:\n{bad}\ngot {got:?}"
    );
    let got = findings(good, config);
    assert!(
        !got.iter().any(|(c, _)| c == code),
        "{code} wrongly reported for:\n{good}\ngot {got:?}"
    );
}

fn d() -> LintConfig {
    LintConfig::default()
}

fn visible(code: &str) -> LintConfig {
    let mut c = LintConfig::default();
    c.r#override.info.push(code.to_string());
    c
}

#[test]
fn dl3000_absolute_workdir() {
    golden(
        "DL3000",
        "FROM a:1\nWORKDIR app\n",
        2,
        "FROM a:1\nWORKDIR /app\nWORKDIR $HOME\nWORKDIR C:\\\\app\n",
        &d(),
    );
}

#[test]
fn dl3002_last_user_not_root() {
    golden(
        "DL3002",
        "FROM a:1\nUSER app\nUSER root\n",
        3,
        "FROM a:1\nUSER root\nRUN x\nUSER app\n",
        &d(),
    );
    // Per stage, as hadolint: each stage whose last USER is root.
    golden(
        "DL3002",
        "FROM a:1 AS b\nUSER 0:0\nFROM c:1\nUSER app\n",
        2,
        "FROM a:1 AS b\nUSER root\nUSER app\nFROM c:1\n",
        &d(),
    );
}

#[test]
fn dl3006_tag_images() {
    golden(
        "DL3006",
        "FROM debian\n",
        1,
        "FROM debian:12\nFROM reg.io:5000/a/b@sha256:abc\nFROM scratch\n",
        &d(),
    );
    // An earlier stage is not an image; a variable is resolved at build time.
    golden(
        "DL3006",
        "FROM a:1 AS base\nFROM other\n",
        2,
        "FROM a:1 AS base\nFROM base\nARG B\nFROM $B\n",
        &d(),
    );
}

#[test]
fn dl3007_latest() {
    golden(
        "DL3007",
        "FROM debian:latest\n",
        1,
        "FROM debian:12\n",
        &d(),
    );
}

#[test]
fn dl3011_ports() {
    golden(
        "DL3011",
        "FROM a:1\nEXPOSE 80 70000\n",
        2,
        "FROM a:1\nEXPOSE 80/tcp 443/udp 8000-8010 $PORT\n",
        &d(),
    );
}

#[test]
fn dl3012_one_healthcheck() {
    golden(
        "DL3012",
        "FROM a:1\nHEALTHCHECK CMD a\nHEALTHCHECK CMD b\n",
        3,
        "FROM a:1\nHEALTHCHECK CMD a\nFROM b:1\nHEALTHCHECK CMD b\n",
        &d(),
    );
}

#[test]
fn dl3020_copy_not_add() {
    golden(
        "DL3020",
        "FROM a:1\nADD app.py /app/\n",
        2,
        "FROM a:1\nADD https://example.com/x.tgz /x\nADD rootfs.tar.gz /\nCOPY app.py /app/\n",
        &d(),
    );
}

#[test]
fn dl3021_copy_many_needs_dir() {
    golden(
        "DL3021",
        "FROM a:1\nCOPY a b /dst\n",
        2,
        "FROM a:1\nCOPY a b /dst/\nCOPY a /dst\n",
        &d(),
    );
}

#[test]
fn dl3022_copy_from_alias() {
    golden(
        "DL3022",
        "FROM a:1\nCOPY --from=build /x /x\n",
        2,
        "FROM a:1 AS build\nFROM b:1\nCOPY --from=build /x /x\nCOPY --from=0 /x /y\nCOPY --from=nginx:1 /etc/nginx /etc/nginx\n",
        &d(),
    );
}

#[test]
fn dl3023_copy_from_self() {
    golden(
        "DL3023",
        "FROM a:1 AS me\nCOPY --from=me /x /x\n",
        2,
        "FROM a:1 AS me\nFROM b:1\nCOPY --from=me /x /x\n",
        &d(),
    );
}

#[test]
fn dl3024_unique_aliases() {
    golden(
        "DL3024",
        "FROM a:1 AS x\nFROM b:1 AS x\n",
        2,
        "FROM a:1 AS x\nFROM b:1 AS y\n",
        &d(),
    );
}

#[test]
fn dl3025_json_cmd() {
    golden(
        "DL3025",
        "FROM a:1\nCMD nginx -g daemon\n",
        2,
        "FROM a:1\nCMD [\"nginx\", \"-g\", \"daemon\"]\n",
        &d(),
    );
    golden(
        "DL3025",
        "FROM a:1\nENTRYPOINT run.sh\n",
        2,
        "FROM a:1\nENTRYPOINT [\"run.sh\"]\n",
        &d(),
    );
}

#[test]
fn dl3026_trusted_registries() {
    let mut c = d();
    c.trusted_registries = vec!["quay.io".into(), "*.gcr.io".into()];
    golden(
        "DL3026",
        "FROM docker.io/library/debian:12\n",
        1,
        "FROM quay.io/a/b:1\nFROM eu.gcr.io/p/i:2\nFROM scratch\n",
        &c,
    );
    // Without the key, any registry is fine.
    assert!(
        findings("FROM evil.example/x:1\n", &d())
            .iter()
            .all(|(c, _)| c != "DL3026")
    );
}

#[test]
fn dl3029_no_platform_flag() {
    golden(
        "DL3029",
        "FROM --platform=linux/amd64 a:1\n",
        1,
        "FROM --platform=$BUILDPLATFORM a:1\n",
        &d(),
    );
}

#[test]
fn dl3044_env_self_reference() {
    golden(
        "DL3044",
        "FROM a:1\nENV A=1 B=$A\n",
        2,
        "FROM a:1\nENV A=1\nENV B=$A\nENV C=${CC}\n",
        &d(),
    );
}

#[test]
fn dl3045_relative_copy_without_workdir() {
    golden(
        "DL3045",
        "FROM a:1\nCOPY x rel/\n",
        2,
        "FROM a:1 AS base\nWORKDIR /app\nCOPY x rel/\nFROM base\nCOPY y rel/\nFROM c:1\nCOPY z /abs/\n",
        &d(),
    );
}

#[test]
fn dl3048_label_keys() {
    golden(
        "DL3048",
        "FROM a:1\nLABEL Bad-Key=1\n",
        2,
        "FROM a:1\nLABEL org.opencontainers.image.title=x version=1\n",
        &d(),
    );
}

fn schema(pairs: &[(&str, &str)]) -> LintConfig {
    let yaml: String = pairs.iter().map(|(k, t)| format!("  {k}: {t}\n")).collect();
    LintConfig::parse(&format!("label-schema:\n{yaml}")).unwrap()
}

#[test]
fn dl3049_to_dl3058_label_schema() {
    let c = schema(&[("maintainer", "email")]);
    golden(
        "DL3049",
        "FROM a:1\n",
        1,
        "FROM a:1\nLABEL maintainer=me@example.com\n",
        &c,
    );
    golden(
        "DL3058",
        "FROM a:1\nLABEL maintainer=nobody\n",
        2,
        "FROM a:1\nLABEL maintainer=me@example.com\n",
        &c,
    );
    golden(
        "DL3051",
        "FROM a:1\nLABEL maintainer=\"\"\n",
        2,
        "FROM a:1\nLABEL maintainer=me@example.com\n",
        &c,
    );
    let c = schema(&[("url", "url")]);
    golden(
        "DL3052",
        "FROM a:1\nLABEL url=example\n",
        2,
        "FROM a:1\nLABEL url=https://example.com\n",
        &c,
    );
    let c = schema(&[("created", "rfc3339")]);
    golden(
        "DL3053",
        "FROM a:1\nLABEL created=yesterday\n",
        2,
        "FROM a:1\nLABEL created=2026-11-23T10:00:00Z\n",
        &c,
    );
    let c = schema(&[("license", "spdx")]);
    golden(
        "DL3054",
        "FROM a:1\nLABEL license=MyOwn\n",
        2,
        "FROM a:1\nLABEL license=Apache-2.0\n",
        &c,
    );
    let c = schema(&[("revision", "hash")]);
    golden(
        "DL3055",
        "FROM a:1\nLABEL revision=main\n",
        2,
        "FROM a:1\nLABEL revision=1a2b3c4d5e6f\n",
        &c,
    );
    let c = schema(&[("version", "semver")]);
    golden(
        "DL3056",
        "FROM a:1\nLABEL version=v1\n",
        2,
        "FROM a:1\nLABEL version=1.2.3\n",
        &c,
    );
    let mut c = schema(&[("version", "text")]);
    c.strict_labels = true;
    golden(
        "DL3050",
        "FROM a:1\nLABEL version=1 extra=2\n",
        2,
        "FROM a:1\nLABEL version=1\n",
        &c,
    );
}

#[test]
fn dl3057_missing_healthcheck_only_when_asked() {
    golden(
        "DL3057",
        "FROM a:1\n",
        1,
        "FROM a:1\nHEALTHCHECK CMD true\n",
        &visible("DL3057"),
    );
    assert!(
        findings("FROM a:1\n", &d()).is_empty(),
        "ignored by default"
    );
}

#[test]
fn dl3059_consecutive_runs() {
    golden(
        "DL3059",
        "FROM a:1\nRUN a\nRUN b\n",
        3,
        "FROM a:1\nRUN a\nWORKDIR /x\nRUN b\nRUN --mount=type=cache,target=/c c\n",
        &d(),
    );
}

#[test]
fn dl3061_order() {
    golden(
        "DL3061",
        "LABEL a=b\nFROM a:1\n",
        1,
        "ARG V=1\nFROM a:$V\n",
        &d(),
    );
}

#[test]
fn dl3043_onbuild_triggers() {
    golden(
        "DL3043",
        "FROM a:1\nONBUILD FROM b:1\n",
        2,
        "FROM a:1\nONBUILD RUN make\n",
        &d(),
    );
}

#[test]
fn dl3063_reserved_stage_names() {
    golden(
        "DL3063",
        "FROM a:1 AS context\n",
        1,
        "FROM a:1 AS builder\n",
        &d(),
    );
}

#[test]
fn dl3064_secrets_in_arg_and_env() {
    golden(
        "DL3064",
        "FROM a:1\nARG NPM_TOKEN\n",
        2,
        "FROM a:1\nARG VERSION\n",
        &d(),
    );
    golden(
        "DL3064",
        "FROM a:1\nENV DB_PASSWORD=x\n",
        2,
        "FROM a:1\nENV DB_HOST=x\n",
        &d(),
    );
}

#[test]
fn dl3065_redundant_target_platform() {
    golden(
        "DL3065",
        "FROM --platform=$TARGETPLATFORM a:1\n",
        1,
        "FROM --platform=$BUILDPLATFORM a:1\n",
        &d(),
    );
}

#[test]
fn dl3066_numeric_users() {
    golden(
        "DL3066",
        "FROM a:1\nUSER app\n",
        2,
        "FROM a:1\nARG UID\nUSER 1001:1001\nUSER $UID\n",
        &d(),
    );
}

#[test]
fn dl3067_whole_filesystem_copies() {
    golden(
        "DL3067",
        "FROM a:1 AS b\nFROM c:1\nCOPY --from=b / /\n",
        3,
        "FROM a:1 AS b\nFROM c:1\nCOPY --from=b /app /app\n",
        &d(),
    );
}

#[test]
fn dl3059_only_short_runs_count() {
    // Each RUN with three commands is long enough to stand alone.
    assert!(
        findings("FROM a:1\nRUN a && b && c\nRUN d && e && f\n", &d())
            .iter()
            .all(|(c, _)| c != "DL3059")
    );
}

#[test]
fn dl3061_every_instruction_before_from() {
    let got = findings("LABEL a=b\nENV X=1\nARG V\nFROM a:1\n", &d());
    assert!(
        got.contains(&("DL3061".into(), 1)) && got.contains(&("DL3061".into(), 2)),
        "{got:?}"
    );
}

#[test]
fn dl3044_earlier_definitions_are_fine() {
    assert!(
        findings(
            "FROM a:1\nARG A=1\nENV A=2 B=$A\nENV PATH=$PATH:/x C=1\n",
            &d()
        )
        .iter()
        .all(|(c, _)| c != "DL3044")
    );
}

#[test]
fn dl4000_maintainer() {
    golden(
        "DL4000",
        "FROM a:1\nMAINTAINER me\n",
        2,
        "FROM a:1\nLABEL maintainer=me\n",
        &d(),
    );
}

#[test]
fn dl4003_dl4004_one_cmd_and_entrypoint() {
    golden(
        "DL4003",
        "FROM a:1\nCMD [\"a\"]\nCMD [\"b\"]\n",
        3,
        "FROM a:1\nCMD [\"a\"]\nFROM b:1\nCMD [\"b\"]\n",
        &d(),
    );
    golden(
        "DL4004",
        "FROM a:1\nENTRYPOINT [\"a\"]\nENTRYPOINT [\"b\"]\n",
        3,
        "FROM a:1\nENTRYPOINT [\"a\"]\n",
        &d(),
    );
}

#[test]
fn dl4006_pipefail() {
    golden(
        "DL4006",
        "FROM a:1\nRUN curl x | sh\n",
        2,
        "FROM a:1\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN curl x | sh\nRUN a || b\n",
        &d(),
    );
}

#[test]
fn dl1001_pragmas_reported_when_asked() {
    golden(
        "DL1001",
        "FROM a:1\n# hadolint ignore=DL3059\nRUN a\n",
        2,
        "FROM a:1\nRUN a\n",
        &visible("DL1001"),
    );
}

#[test]
fn config_keys_ignored_and_override() {
    let c = LintConfig::parse("ignored: [DL3006]\n").unwrap();
    assert!(findings("FROM debian\n", &c).is_empty());
    let c = LintConfig::parse("override:\n  error: [DL3006]\n").unwrap();
    let f = lint(&parse("FROM debian\n").unwrap(), &c);
    assert_eq!(f[0].level, Severity::Error);
}

/// The rules that read RUN's commands: (code, bad, good), the finding at
/// the RUN on line 2.
#[test]
fn run_command_rules() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str)] = &[
        ("DL3001", "RUN apt-get update && service nginx start", "RUN echo ps"),
        ("DL3003", "RUN cd /app && make", "WORKDIR /app"),
        ("DL3004", "RUN sudo make install", "RUN make install"),
        ("DL3008", "RUN apt-get install -y --no-install-recommends curl", "RUN apt-get install -y --no-install-recommends curl=7.88.1-10"),
        ("DL3009", "RUN apt-get update && apt-get install -y --no-install-recommends curl=1", "RUN apt-get update && apt-get install -y --no-install-recommends curl=1 && rm -rf /var/lib/apt/lists/*"),
        ("DL3013", "RUN pip install --no-cache-dir flask", "RUN pip install --no-cache-dir flask==3.0.0"),
        ("DL3014", "RUN apt-get install --no-install-recommends curl=1", "RUN apt-get install -qq --no-install-recommends curl=1"),
        ("DL3015", "RUN apt-get install -y curl=1", "RUN apt-get install -y --no-install-recommends curl=1"),
        ("DL3016", "RUN npm install express", "RUN npm install express@4.18.2"),
        ("DL3018", "RUN apk add --no-cache curl", "RUN apk add --no-cache curl=8.5.0-r0"),
        ("DL3019", "RUN apk add curl=8.5.0-r0", "RUN apk add --no-cache curl=8.5.0-r0"),
        ("DL3027", "RUN apt install -y curl", "RUN apt-get --version"),
        ("DL3028", "RUN gem install rails", "RUN gem install rails:7.1.0"),
        ("DL3030", "RUN yum install httpd-2.4.6 && yum clean all", "RUN yum install -y httpd-2.4.6 && yum clean all"),
        ("DL3032", "RUN yum install -y httpd-2.4.6", "RUN yum install -y httpd-2.4.6 && yum clean all"),
        ("DL3033", "RUN yum install -y httpd && yum clean all", "RUN yum install -y httpd-2.4.6 && yum clean all"),
        ("DL3034", "RUN zypper install curl=8 && zypper clean", "RUN zypper install -y curl=8 && zypper clean"),
        ("DL3035", "RUN zypper dist-upgrade -y", "RUN zypper update -y"),
        ("DL3036", "RUN zypper install -y curl=8", "RUN zypper install -y curl=8 && zypper clean"),
        ("DL3037", "RUN zypper install -y curl && zypper clean", "RUN zypper install -y curl=8 && zypper clean"),
        ("DL3038", "RUN dnf install httpd-2.4.6 && dnf clean all", "RUN dnf install -y httpd-2.4.6 && dnf clean all"),
        ("DL3040", "RUN dnf install -y httpd-2.4.6", "RUN dnf install -y httpd-2.4.6 && dnf clean all"),
        ("DL3041", "RUN dnf install -y httpd && dnf clean all", "RUN dnf install -y httpd-2.4.6 && dnf clean all"),
        ("DL3042", "RUN pip install flask==3.0.0", "RUN pip install --no-cache-dir flask==3.0.0"),
        ("DL3046", "RUN useradd -u 123456 app", "RUN useradd -l -u 123456 app"),
        ("DL3047", "RUN wget https://example.com/x", "RUN wget -q https://example.com/x"),
        ("DL3060", "RUN yarn install", "RUN yarn install && yarn cache clean"),
        ("DL3062", "RUN go install example.com/tool", "RUN go install example.com/tool@v1.2.3"),
        ("DL4005", "RUN ln -sf /bin/bash /bin/sh", "SHELL [\"/bin/bash\", \"-c\"]"),
        ("DL4006", "RUN curl -s https://x | tar -x", "RUN case $a in x86_64|aarch64) echo;; esac"),
    ];
    for (code, bad, good) in cases {
        golden(
            code,
            &format!("FROM debian:12\n{bad}\n"),
            2,
            &format!("FROM debian:12\n{good}\n"),
            &d(),
        );
    }
    // DL4001: curl and wget in one stage, at the second.
    golden(
        "DL4001",
        "FROM debian:12\nRUN curl -o x https://x\nRUN wget -q https://y\n",
        3,
        "FROM debian:12\nRUN curl -o x https://x\nFROM debian:12\nRUN wget -q https://y\n",
        &d(),
    );
    // ONBUILD RUN is checked too, at the ONBUILD's line.
    golden(
        "DL3008",
        "FROM debian:12\nONBUILD RUN apt-get install -y --no-install-recommends curl\n",
        2,
        "FROM debian:12\nONBUILD RUN apt-get install -y --no-install-recommends curl=1\n",
        &d(),
    );
}
