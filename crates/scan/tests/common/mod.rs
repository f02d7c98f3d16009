//! Helpers the scan tests share: files written into a build context, dpkg
//! data taken from this (Debian) host, rpms built with the real rpmbuild
//! and installed with the real rpm.

#![allow(dead_code)]

use slipway_test_support::run_ok;
use std::path::{Path, PathBuf};

pub fn write(root: &Path, path: &str, content: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Copy `package`'s md5sums list and every file it names from this host
/// into `root`, so the image holds the package as dpkg installed it.
pub fn copy_host_package(root: &Path, package: &str) -> Vec<String> {
    let list = ["", ":amd64", ":arm64"]
        .iter()
        .map(|a| format!("/var/lib/dpkg/info/{package}{a}.md5sums"))
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("no md5sums for {package}"));
    let dest = root.join(format!("var/lib/dpkg/info/{package}.md5sums"));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(&list, dest).unwrap();
    let mut paths = Vec::new();
    for line in std::fs::read_to_string(&list).unwrap().lines() {
        let path = line.split_once("  ").unwrap().1;
        let to = root.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new("/").join(path), &to).unwrap();
        paths.push(format!("/{path}"));
    }
    paths
}

/// Build a noarch rpm from `spec` with rpmbuild; returns its path.
pub fn build_rpm(work: &Path, name: &str, spec: &str) -> PathBuf {
    let file = work.join(format!("{name}.spec"));
    std::fs::write(&file, spec).unwrap();
    let top = work.join("rpmbuild");
    run_ok(
        "rpmbuild",
        &[
            "--quiet",
            "--define",
            &format!("_topdir {}", top.display()),
            "-bb",
            &file.display().to_string(),
        ],
    );
    let dir = top.join("RPMS/noarch");
    std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
        })
        .unwrap_or_else(|| panic!("rpmbuild left no {name} rpm in {}", dir.display()))
}

/// Install `rpm` into `root` with the real rpm, which writes the
/// database there (`/var/lib/rpm`).
pub fn install_rpm(root: &Path, rpm: &Path) {
    run_ok(
        "rpm",
        &[
            "--root",
            &root.display().to_string(),
            "--dbpath",
            "/var/lib/rpm",
            "-i",
            "--nodeps",
            "--ignoreos",
            &rpm.display().to_string(),
        ],
    );
}

/// A package with one file of each kind rpm -V treats differently: plain
/// files, a directory, a symlink, a %config, a %doc and a %ghost.
pub const DEMO_SPEC: &str = "Name: slipway-demo
Version: 1.2
Release: 3
Epoch: 1
Summary: demo
License: MIT
BuildArch: noarch
%description
demo
%install
mkdir -p %{buildroot}/usr/share/slipway-demo %{buildroot}/etc %{buildroot}/usr/share/doc/slipway-demo
echo hello > %{buildroot}/usr/share/slipway-demo/hello
echo keep > %{buildroot}/usr/share/slipway-demo/mode
echo same > %{buildroot}/usr/share/slipway-demo/owner
echo gone > %{buildroot}/usr/share/slipway-demo/gone
echo touched > %{buildroot}/usr/share/slipway-demo/touched
ln -s hello %{buildroot}/usr/share/slipway-demo/link
echo conf > %{buildroot}/etc/slipway-demo.conf
echo doc > %{buildroot}/usr/share/doc/slipway-demo/README
%files
%dir /usr/share/slipway-demo
/usr/share/slipway-demo/hello
/usr/share/slipway-demo/mode
/usr/share/slipway-demo/owner
/usr/share/slipway-demo/gone
/usr/share/slipway-demo/touched
/usr/share/slipway-demo/link
%config(noreplace) /etc/slipway-demo.conf
%doc /usr/share/doc/slipway-demo/README
%ghost /var/log/slipway-demo.log
";

/// A Debian repository directory holding `Packages` and `Packages.gz`
/// made by the real dpkg-scanpackages from .debs built with dpkg-deb, one
/// per (name, version, arch).
pub fn deb_repo(dir: &Path, packages: &[(&str, &str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, version, arch) in packages {
        let pkg = dir.join(format!("build-{name}-{version}"));
        write(
            &pkg,
            "DEBIAN/control",
            &format!(
                "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Slipway Tests <tests@example.invalid>\nDescription: test package\n"
            ),
        );
        write(&pkg, &format!("usr/share/{name}/marker"), version);
        let deb = dir.join(format!("{name}_{version}_{arch}.deb"));
        run_ok(
            "dpkg-deb",
            &[
                "--root-owner-group",
                "--build",
                &pkg.display().to_string(),
                &deb.display().to_string(),
            ],
        );
        std::fs::remove_dir_all(&pkg).unwrap();
    }
    let out = std::process::Command::new("dpkg-scanpackages")
        .args([".", "/dev/null"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("Packages"), &out.stdout).unwrap();
    run_ok(
        "gzip",
        &["-k", "-f", &dir.join("Packages").display().to_string()],
    );
}

/// An RPM repository made by the real createrepo_c from `rpms`.
pub fn rpm_repo(dir: &Path, rpms: &[PathBuf]) {
    std::fs::create_dir_all(dir).unwrap();
    for rpm in rpms {
        std::fs::copy(rpm, dir.join(rpm.file_name().unwrap())).unwrap();
    }
    run_ok("createrepo_c", &["--quiet", &dir.display().to_string()]);
}
