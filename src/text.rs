//! Text for people: numbers with thousands separators, written one way everywhere (findings'
//! arithmetic, tables, charts, the HTML report).

/// A count with thousands separators: 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number rounded to a whole, with thousands separators: 69120.4 → "69,120", -1234 → "-1,234".
pub fn thousands_rounded(value: f64) -> String {
    let rounded = value.round();
    let digits = thousands(rounded.abs() as u64);
    if rounded < 0.0 {
        format!("-{digits}")
    } else {
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(679_351), "679,351");
        assert_eq!(thousands(26_784_000), "26,784,000");
        assert_eq!(thousands_rounded(65_664.4), "65,664");
        assert_eq!(thousands_rounded(999.0), "999");
        assert_eq!(thousands_rounded(1_000_000.0), "1,000,000");
        assert_eq!(thousands_rounded(-1_234.0), "-1,234");
    }
}
