//! `/proc/PID/fdinfo/N`, parsed: the one parser of this crate and of the `fdsame` CLI.
//!
//! fdinfo is `key:\tvalue` lines (`pos`, `flags`, `mnt_id`, `ino`; a dma-buf adds `size`,
//! `count`, `exp_name`, `name`; a DRM file with DRM fdinfo adds `drm-driver`,
//! `drm-client-id`, `drm-total-*`...: Documentation/gpu/drm-usage-stats.rst).

use std::collections::BTreeMap;

/// The value of `key:` in fdinfo text, trimmed; the first line with that key wins.
///
/// ```
/// let text = "pos:\t0\ndrm-client-id:\t17\n";
/// assert_eq!(fdsame::fdinfo::field(text, "drm-client-id"), Some("17"));
/// assert_eq!(fdsame::fdinfo::field(text, "drm-client"), None);
/// ```
pub fn field<'t>(text: &'t str, key: &str) -> Option<&'t str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Every `key: value` line, keys and values trimmed; a repeated key keeps its first value.
/// Lines without `:` are skipped.
///
/// ```
/// let m = fdsame::fdinfo::parse("size:\t4096\nexp_name:\tvgem\n");
/// assert_eq!(m.get("exp_name").map(String::as_str), Some("vgem"));
/// ```
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(':') {
            m.entry(k.trim().to_owned())
                .or_insert_with(|| v.trim().to_owned());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_and_maps_agree() {
        let text = "pos:\t0\nflags:\t02\ndrm-driver:\tvgem\ndrm-client-id:\t17\nno colon\n";
        let m = super::parse(text);
        for (k, v) in &m {
            assert_eq!(super::field(text, k), Some(v.as_str()));
        }
        assert_eq!(m.len(), 4);
        assert_eq!(super::field(text, "drm-client"), None);
    }
}
