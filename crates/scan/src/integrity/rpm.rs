//! rpm: `rpm -V` semantics over the image's file table, the database
//! read with the real `rpm`; and file capabilities, as rpm records them
//! and as the image's extended attributes hold them.

use super::volatile;
use crate::inventory::rpm_query;
use crate::rootfs::{FileKind, Rootfs};
use slipway_core::scan::Finding;
use slipway_core::scan::inventory::Ecosystem;
use std::collections::HashMap;

#[derive(Clone, Copy)]
enum DigestAlgo {
    Md5,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgo {
    /// rpm's `PGPHASHALGO_*` numbers; packages without the tag use MD5.
    fn from_rpm(tag: &str) -> Option<DigestAlgo> {
        Some(match tag {
            "1" | "(none)" | "" => DigestAlgo::Md5,
            "2" => DigestAlgo::Sha1,
            "8" => DigestAlgo::Sha256,
            "9" => DigestAlgo::Sha384,
            "10" => DigestAlgo::Sha512,
            _ => return None,
        })
    }
}

/// The hex digest and size of the regular file at `path` (symlinks
/// followed inside the image), `None` when there is none. The digests
/// were taken while the layers streamed past: MD5 and SHA-256, which is
/// what dpkg and rpm record; a package naming another algorithm (SHA-1,
/// SHA-384, SHA-512: rare) gets `None` for its digest, shown as unknown.
fn file_digest(
    fs: &Rootfs,
    path: &str,
    algo: DigestAlgo,
) -> std::io::Result<Option<(String, u64)>> {
    let Some(meta) = fs.regular(path) else {
        return Ok(None);
    };
    let digest = match algo {
        DigestAlgo::Md5 => meta.md5.map(hex::encode),
        DigestAlgo::Sha256 => meta.sha256.map(hex::encode),
        DigestAlgo::Sha1 | DigestAlgo::Sha384 | DigestAlgo::Sha512 => None,
    };
    Ok(digest.map(|d| (d, meta.size)))
}

// rpm's verify attributes (rpmvf.h) and file flags (rpmfiles.h).
const V_DIGEST: u32 = 1 << 0;
const V_SIZE: u32 = 1 << 1;
const V_LINKTO: u32 = 1 << 2;
const V_USER: u32 = 1 << 3;
const V_GROUP: u32 = 1 << 4;
const V_MTIME: u32 = 1 << 5;
const V_MODE: u32 = 1 << 6;
const V_RDEV: u32 = 1 << 7;
const V_CAPS: u32 = 1 << 8;
const F_CONFIG: u32 = 1 << 0;
const F_DOC: u32 = 1 << 1;
const F_GHOST: u32 = 1 << 6;
const F_LICENSE: u32 = 1 << 7;
const F_README: u32 = 1 << 8;

/// One file as the rpm database records it.
struct RpmFile<'a> {
    path: &'a str,
    size: u64,
    mode: u32,
    digest: &'a str,
    mtime: u64,
    user: &'a str,
    group: &'a str,
    flags: u32,
    link: &'a str,
    rdev: u32,
    caps: &'a str,
    state: &'a str,
    verify: u32,
}

const RPM_QUERY: &str = "@@\\t%{NAME}\\t%{FILEDIGESTALGO}\\n[%{FILENAMES}\\t%{FILESIZES}\\t%{FILEMODES}\\t%{FILEDIGESTS}\\t%{FILEMTIMES}\\t%{FILEUSERNAME}\\t%{FILEGROUPNAME}\\t%{FILEFLAGS}\\t%{FILELINKTOS}\\t%{FILERDEVS}\\t%{FILECAPS}\\t%{FILESTATES}\\t%{FILEVERIFYFLAGS}\\n]";

pub(super) fn check(fs: &Rootfs, db: &str, out: &mut Vec<Finding>, problems: &mut Vec<String>) {
    let text = match rpm_query(fs, db, &["-qa", "--queryformat", RPM_QUERY]) {
        Ok(t) => t,
        Err(e) => {
            problems.push(e);
            return;
        }
    };
    let ids = Ids::read(fs);
    let mut package = "";
    let mut algo = Some(DigestAlgo::Md5);
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("@@\t") {
            let (name, tag) = head.split_once('\t').unwrap_or((head, ""));
            package = name;
            algo = DigestAlgo::from_rpm(tag);
            if algo.is_none() {
                problems.push(format!(
                    "rpm {name}: unknown file digest algorithm {tag}; digests not checked"
                ));
            }
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [
            path,
            size,
            mode,
            digest,
            mtime,
            user,
            group,
            flags,
            link,
            rdev,
            caps,
            state,
            verify,
        ] = f[..]
        else {
            continue;
        };
        let num = |s: &str| s.parse::<u64>().unwrap_or(0);
        let file = RpmFile {
            path,
            size: num(size),
            mode: num(mode) as u32,
            digest,
            mtime: num(mtime),
            user,
            group,
            flags: num(flags) as u32,
            link,
            rdev: num(rdev) as u32,
            caps: if caps == "(none)" { "" } else { caps },
            state,
            verify: verify.parse::<u32>().unwrap_or(u32::MAX),
        };
        if package == "gpg-pubkey"
            || file.flags & (F_CONFIG | F_DOC | F_GHOST | F_LICENSE | F_README) != 0
            || volatile(file.path)
            // Only files rpm installed ("normal"); replaced, not installed
            // (excluded docs, other languages) and net-shared ones aren't.
            || file.state != "0"
        {
            continue;
        }
        match verify_rpm_file(fs, &file, algo, &ids) {
            Ok(Verified::Same) => {}
            Ok(Verified::Missing) => out.push(Finding::Missing {
                ecosystem: Ecosystem::Rpm,
                package: package.to_string(),
                path: path.to_string(),
            }),
            Ok(Verified::Differs(flags)) => out.push(Finding::Modified {
                ecosystem: Ecosystem::Rpm,
                package: package.to_string(),
                path: path.to_string(),
                flags,
            }),
            Err(e) => problems.push(format!("{path}: {e}")),
        }
    }
}

enum Verified {
    Same,
    Missing,
    Differs(String),
}

fn type_bits(kind: FileKind) -> u32 {
    match kind {
        FileKind::File => 0o100000,
        FileKind::Dir => 0o040000,
        FileKind::Symlink => 0o120000,
        FileKind::CharDevice => 0o020000,
        FileKind::BlockDevice => 0o060000,
        FileKind::Fifo => 0o010000,
    }
}

fn verify_rpm_file(
    fs: &Rootfs,
    file: &RpmFile,
    algo: Option<DigestAlgo>,
    ids: &Ids,
) -> std::io::Result<Verified> {
    let Some(mut meta) = fs.meta(file.path).cloned() else {
        return Ok(Verified::Missing);
    };
    // A directory packaged as such may be a symlink to a directory (for
    // example /bin → usr/bin), if root or the packaged owner made it.
    if file.mode & 0o170000 == 0o040000
        && meta.kind == FileKind::Symlink
        && let Some(target) = fs
            .resolve(file.path, true)
            .ok()
            .and_then(|r| fs.files.get(&r))
        && target.kind == FileKind::Dir
        && (meta.uid == 0 || ids.uid(file.user) == Some(meta.uid))
    {
        meta = target.clone();
    }
    let mut flags = file.verify;
    if meta.kind == FileKind::Symlink {
        flags &= !V_MODE;
    } else {
        flags &= !V_LINKTO;
    }
    if meta.kind != FileKind::File {
        flags &= !(V_DIGEST | V_SIZE | V_MTIME | V_CAPS);
    }
    let mut failed = 0u32;
    let mut unknown = 0u32;
    if flags & V_DIGEST != 0 {
        match algo {
            None => unknown |= V_DIGEST,
            Some(algo) => match file_digest(fs, file.path, algo)? {
                Some((d, _)) if d.eq_ignore_ascii_case(file.digest) => {}
                Some(_) => failed |= V_DIGEST,
                None => unknown |= V_DIGEST,
            },
        }
    }
    if flags & V_LINKTO != 0 && meta.link.as_deref() != Some(file.link) {
        failed |= V_LINKTO;
    }
    if flags & V_SIZE != 0 && meta.size != file.size {
        failed |= V_SIZE;
    }
    if flags & V_MODE != 0 && type_bits(meta.kind) | meta.mode != file.mode & 0o177777 {
        failed |= V_MODE;
    }
    if flags & V_RDEV != 0 {
        let is_dev = |m: u32| matches!(m & 0o170000, 0o020000 | 0o060000);
        let want_type = file.mode & 0o170000;
        let got_type = type_bits(meta.kind);
        if (want_type == 0o020000) != (got_type == 0o020000)
            || (want_type == 0o060000) != (got_type == 0o060000)
        {
            failed |= V_RDEV;
        } else if is_dev(want_type) {
            let (major, minor) = meta.device.unwrap_or((0, 0));
            if ((major << 8) | minor) & 0xffff != file.rdev & 0xffff {
                failed |= V_RDEV;
            }
        }
    }
    if flags & V_CAPS != 0 {
        let got = meta.capabilities.as_deref().and_then(caps_of_xattr);
        let want = caps_of_text(file.caps);
        if got.unwrap_or_default() != want.unwrap_or_default() {
            failed |= V_CAPS;
        }
    }
    if flags & V_MTIME != 0 && meta.mtime != file.mtime {
        failed |= V_MTIME;
    }
    if flags & V_USER != 0 {
        let name_match = ids.user_name(meta.uid) == Some(file.user);
        let id_match = ids.uid(file.user) == Some(meta.uid);
        if !(name_match || id_match) {
            failed |= V_USER;
        }
    }
    if flags & V_GROUP != 0 {
        let name_match = ids.group_name(meta.gid) == Some(file.group);
        let id_match = ids.gid(file.group) == Some(meta.gid);
        if !(name_match || id_match) {
            failed |= V_GROUP;
        }
    }
    if failed == 0 {
        return Ok(Verified::Same);
    }
    let columns = [
        (V_SIZE, 'S'),
        (V_MODE, 'M'),
        (V_DIGEST, '5'),
        (V_RDEV, 'D'),
        (V_LINKTO, 'L'),
        (V_USER, 'U'),
        (V_GROUP, 'G'),
        (V_MTIME, 'T'),
        (V_CAPS, 'P'),
    ];
    Ok(Verified::Differs(
        columns
            .iter()
            .map(|&(bit, c)| {
                if failed & bit != 0 {
                    c
                } else if unknown & bit != 0 {
                    '?'
                } else {
                    '.'
                }
            })
            .collect(),
    ))
}

/// The image's users and groups (`/etc/passwd`, `/etc/group`); `root` is
/// 0 even without them, as in rpm.
struct Ids {
    users: HashMap<String, u64>,
    groups: HashMap<String, u64>,
}

impl Ids {
    fn read(fs: &Rootfs) -> Ids {
        let table = |file: &str| -> HashMap<String, u64> {
            let mut m: HashMap<String, u64> = fs
                .read_text(file)
                .ok()
                .flatten()
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(':');
                    let name = f.next()?;
                    let id = f.nth(1)?.parse().ok()?;
                    Some((name.to_string(), id))
                })
                .collect();
            m.entry("root".into()).or_insert(0);
            m
        };
        Ids {
            users: table("/etc/passwd"),
            groups: table("/etc/group"),
        }
    }

    fn uid(&self, name: &str) -> Option<u64> {
        self.users.get(name).copied()
    }

    fn gid(&self, name: &str) -> Option<u64> {
        self.groups.get(name).copied()
    }

    fn user_name(&self, id: u64) -> Option<&str> {
        name_of(&self.users, id)
    }

    fn group_name(&self, id: u64) -> Option<&str> {
        name_of(&self.groups, id)
    }
}

fn name_of(m: &HashMap<String, u64>, id: u64) -> Option<&str> {
    // The first entry with that id, deterministically.
    m.iter()
        .filter(|(_, v)| **v == id)
        .map(|(k, _)| k.as_str())
        .min()
}

/// Capability names by number (linux/capability.h).
const CAP_NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// File capabilities as (permitted, inheritable, effective) bit sets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileCaps {
    pub permitted: u64,
    pub inheritable: u64,
    pub effective: bool,
}

/// Decode a `security.capability` attribute (`struct vfs_cap_data`).
pub fn caps_of_xattr(raw: &[u8]) -> Option<FileCaps> {
    let word = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            raw.get(i * 4..i * 4 + 4)?.try_into().ok()?,
        ))
    };
    let magic = word(0)?;
    let (permitted, inheritable) = match magic & 0xff00_0000 {
        0x0100_0000 => (u64::from(word(1)?), u64::from(word(2)?)),
        0x0200_0000 | 0x0300_0000 => (
            u64::from(word(1)?) | u64::from(word(3)?) << 32,
            u64::from(word(2)?) | u64::from(word(4)?) << 32,
        ),
        _ => return None,
    };
    Some(FileCaps {
        permitted,
        inheritable,
        effective: magic & 1 != 0,
    })
}

/// Parse libcap's text form as rpm stores it (`cap_net_raw,cap_net_admin=ep`).
pub fn caps_of_text(text: &str) -> Option<FileCaps> {
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return None;
    }
    let mut caps = FileCaps::default();
    for clause in text.split_whitespace() {
        let Some(at) = clause.find(['=', '+', '-']) else {
            continue;
        };
        let (names, ops) = clause.split_at(at);
        let mut bits = 0u64;
        for name in names.split(',') {
            if name == "all" || name.is_empty() {
                bits = (1u64 << CAP_NAMES.len()) - 1;
            } else if let Some(i) = CAP_NAMES.iter().position(|n| *n == name) {
                bits |= 1 << i;
            }
        }
        let mut op = ' ';
        for c in ops.chars() {
            match c {
                '=' | '+' | '-' => {
                    op = c;
                    if c == '=' {
                        caps.permitted &= !bits;
                        caps.inheritable &= !bits;
                    }
                }
                'p' | 'i' | 'e' => {
                    let set = |v: &mut u64| {
                        if op == '-' { *v &= !bits } else { *v |= bits }
                    };
                    match c {
                        'p' => set(&mut caps.permitted),
                        'i' => set(&mut caps.inheritable),
                        _ => caps.effective = op != '-',
                    }
                }
                _ => {}
            }
        }
    }
    (caps != FileCaps::default()).then_some(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_read_from_xattrs_and_text_agree() {
        // v2 attribute: effective, permitted = cap_net_raw (13) + cap_net_admin (12).
        let mut raw = Vec::new();
        for w in [0x0200_0001u32, (1 << 12) | (1 << 13), 0, 0, 0] {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        let got = caps_of_xattr(&raw).unwrap();
        assert_eq!(Some(got), caps_of_text("cap_net_admin,cap_net_raw=ep"));
        assert_eq!(caps_of_text(""), None);
        assert_eq!(caps_of_text("="), None);
        assert_ne!(
            caps_of_text("cap_net_raw=ep"),
            caps_of_text("cap_net_raw=p")
        );
        assert!(caps_of_xattr(&[1, 2]).is_none());
    }
}
