//! Version ordering of the package managers whose updates Slipway checks:
//! dpkg's (`deb-version(7)`) and rpm's (`rpmvercmp`), each exactly as the
//! tool itself orders versions, so "an update is available" means what
//! `apt` or `dnf` would say.

use std::cmp::Ordering;

/// Order two Debian versions, `[epoch:]upstream[-revision]`.
pub fn compare_deb(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split_deb(a);
    let (eb, ub, rb) = split_deb(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

/// (epoch, upstream, revision); a missing or unreadable epoch is 0 and a
/// missing revision is empty, as dpkg reads them.
fn split_deb(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = split_epoch(v);
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// A leading `epoch:` (0 when absent or not a number) and the rest.
fn split_epoch(v: &str) -> (u64, &str) {
    let v = v.trim();
    match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, v),
    }
}

/// dpkg's character order: `~` before the end of the string, the end
/// before letters, letters before everything else.
fn deb_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (deb_order(a.get(i).copied()), deb_order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// Order two rpm versions written `[epoch:]version[-release]` (a missing
/// epoch is 0; a missing release compares equal to any, as rpm does when
/// one side names none).
pub fn compare_rpm(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_rpm(a);
    let (eb, vb, rb) = split_rpm(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

fn split_rpm(v: &str) -> (u64, &str, Option<&str>) {
    let (epoch, rest) = split_epoch(v);
    match rest.rsplit_once('-') {
        Some((version, release)) => (epoch, version, Some(release)),
        None => (epoch, rest, None),
    }
}

/// rpm's `rpmvercmp`: alternating numeric and alphabetic segments, other
/// characters separate them; `~` sorts before anything (even the end) and
/// `^` after the end but before anything else.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        let mark = [b'~', b'^']
            .into_iter()
            .find(|&m| ca == Some(m) || cb == Some(m));
        if let Some(mark) = mark {
            // `^` is newer than the end of a version, `~` older.
            if mark == b'^' {
                if ca.is_none() {
                    return Ordering::Less;
                }
                if cb.is_none() {
                    return Ordering::Greater;
                }
            }
            if ca != Some(mark) {
                return Ordering::Greater;
            }
            if cb != Some(mark) {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (si, sj) = (i, j);
        while i < a.len() && class(&a[i]) {
            i += 1;
        }
        while j < b.len() && class(&b[j]) {
            j += 1;
        }
        let (mut sa, mut sb) = (&a[si..i], &b[sj..j]);
        if sb.is_empty() {
            // Different kinds of segment: numeric is newer than alphabetic.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn debian_versions_order_as_dpkg_does() {
        // From dpkg's own test suite (t-version.c) and deb-version(7).
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0-0", "1.0", Equal),
            ("0:1.0", "1.0", Equal),
            ("1:1.0", "2.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1.0-1", "1.0-2", Less),
            ("1.0-1", "1.0-1+deb12u1", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.2.10", "1.2.9", Greater),
            ("1.002", "1.2", Equal),
            ("5.2.15-2+b7", "5.2.15-2+b2", Greater),
            ("1.0-1-1", "1.0-1", Greater),
            ("a", "1", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare_deb(a, b), want, "{a} vs {b}");
            assert_eq!(compare_deb(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rpm_versions_order_as_rpmvercmp_does() {
        // From rpm's test suite (rpmvercmp.at).
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "xyz.4", Equal),
            ("xyz.4", "8", Less),
            ("5.5p2", "5.6p1", Less),
            ("6.0", "6.0.rc1", Less),
            ("10b2", "10a1", Greater),
            ("1.0aa", "1.0a", Greater),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a", "a", Equal),
            ("a+", "a_", Equal),
            ("+", "_", Equal),
            ("1.0~rc1", "1.0~rc1", Equal),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^20160101", "1.0.1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
        assert_eq!(compare_rpm("1:1.0-1", "2.0-1"), Greater);
        assert_eq!(compare_rpm("8.6.0-7.fc40", "8.6.0-10.fc40"), Less);
        assert_eq!(compare_rpm("8.6.0", "8.6.0-10.fc40"), Equal);
    }
}
