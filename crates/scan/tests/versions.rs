//! Version ordering checked against the real tools: `dpkg
//! --compare-versions` and rpm's own `rpm.vercmp`, on generated versions
//! that mix digits, letters, separators, `~`, `^`, `+` and epochs.

use slipway_scan::version::{compare_deb, rpmvercmp};
use std::cmp::Ordering;
use std::process::Command;

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn version(&mut self, alphabet: &[&str]) -> String {
        let len = 1 + self.next(5);
        let mut v = String::new();
        for _ in 0..len {
            v.push_str(alphabet[self.next(alphabet.len() as u64) as usize]);
        }
        // Start with a digit and do not end with a separator, as dpkg
        // requires (an empty revision is refused).
        format!("{}{v}{}", self.next(3), self.next(10))
    }
}

#[test]
fn debian_order_matches_dpkg() {
    let mut g = Lcg(7);
    let parts = [
        "0", "1", "9", "10", "01", ".", "-", "+", "~", "a", "b", "z", "rc", "2",
    ];
    for _ in 0..300 {
        let a = g.version(&parts);
        let b = g.version(&parts);
        let a = if g.next(4) == 0 { format!("1:{a}") } else { a };
        let dpkg_lt = Command::new("dpkg")
            .args(["--compare-versions", &a, "lt", &b])
            .status()
            .unwrap()
            .success();
        let dpkg_eq = Command::new("dpkg")
            .args(["--compare-versions", &a, "eq", &b])
            .status()
            .unwrap()
            .success();
        let want = if dpkg_lt {
            Ordering::Less
        } else if dpkg_eq {
            Ordering::Equal
        } else {
            Ordering::Greater
        };
        assert_eq!(compare_deb(&a, &b), want, "{a} vs {b}");
    }
}

#[test]
fn rpm_order_matches_rpm() {
    let mut g = Lcg(11);
    let parts = [
        "0", "1", "9", "10", "01", ".", "_", "+", "~", "^", "a", "b", "rc", "2",
    ];
    let pairs: Vec<(String, String)> = (0..300)
        .map(|_| (g.version(&parts), g.version(&parts)))
        .collect();
    let lua: String = pairs
        .iter()
        .map(|(a, b)| format!("print(rpm.vercmp('{a}', '{b}') .. ' ')"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: {lua}}}"))
        .output()
        .expect("rpm (apt-get install rpm)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<i32> = stdout
        .split_whitespace()
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("rpm printed {s:?}:\n{stdout}"))
        })
        .collect();
    assert_eq!(answers.len(), pairs.len());
    for ((a, b), want) in pairs.iter().zip(answers) {
        assert_eq!(rpmvercmp(a, b), want.cmp(&0), "{a} vs {b}");
    }
}
