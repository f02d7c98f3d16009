use super::*;
pub(super) fn check(
    _fs: &crate::rootfs::Rootfs,
    _out: &mut Vec<Finding>,
    _problems: &mut Vec<String>,
) {
}
