//! The one form plate texts are stored, matched and searched in. Reads come
//! from `vehicles`, hotlists and searches from `store`; both must agree on
//! which characters of a plate count, so the rule lives here.

/// The 31 province characters a Chinese plate starts with, in the order of
/// LPRNet's alphabet (`vehicles::lprnet`).
pub const PROVINCES: &str = "京沪津渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新";

/// A province character of a Chinese plate (`鲁` in 鲁Q·1V825).
pub fn is_province(c: char) -> bool {
    PROVINCES.contains(c)
}

/// Whether `c` is part of a plate's identity: A-Z, 0-9 (either case) or a
/// province character. Separators, emblems and anything else are not.
pub fn is_plate_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || is_province(c)
}

/// Whether `c` is a separator printed or read between a plate's groups
/// (space, `-`, `.`, `·`): not part of its identity, but not foreign to a
/// plate either, so readers and search patterns skip it.
pub fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '·')
}

/// Upper-case plate characters only (`鲁q·1v-825` → `鲁Q1V825`).
pub fn canonical(s: &str) -> String {
    s.chars()
        .filter(|&c| is_plate_char(c))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plate_text_keeps_letters_digits_and_provinces() {
        assert_eq!(PROVINCES.chars().count(), 31);
        assert_eq!(canonical("鲁q·1v-825"), "鲁Q1V825");
        assert_eq!(canonical(" ab 12.cd "), "AB12CD");
        assert_eq!(canonical("Ä€中"), "");
        assert!(is_province('新') && !is_province('中') && !is_province('A'));
    }
}
