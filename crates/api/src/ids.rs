//! The shapes of the API's ids, checked before an id from the API or from a person is written into
//! a request's path. [`crate::Endpoint::path`] percent-encodes whatever it is given, so a hostile id
//! cannot reach another path; these checks go further and refuse an id that is not the API's at
//! all, before any call is made with it, so that `GET /organizations` listing `1/../666666` costs
//! no request and stores nothing under that name.
//!
//! - An organization id is decimal digits (`549236`), at most [`MAX_ORG_ID_DIGITS`] of them.
//! - Every other id that goes into a path (a network `N_24329156` or `L_…`, a device serial
//!   `Q2XX-AAAA-0001`, an admin id, a client id `k_3f9…`) is Meraki's id alphabet: ASCII letters,
//!   digits, `_` and `-`, at most [`MAX_ID_LENGTH`] characters.

/// The most digits an organization id may have: Meraki's are 64-bit numbers (at most 19 digits);
/// a few more leave room without letting a page of digits through.
pub const MAX_ORG_ID_DIGITS: usize = 24;

/// The longest id of Meraki's id alphabet accepted (a serial is 14 characters, a network id ~20).
pub const MAX_ID_LENGTH: usize = 64;

/// Why an id is not the API's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("organization id {shown} is not the API's shape (1 to {MAX_ORG_ID_DIGITS} digits)")]
    Organization { shown: String },
    #[error(
        "{what} {shown} is not the API's shape (1 to {MAX_ID_LENGTH} letters, digits, '_' or '-')"
    )]
    Other { what: &'static str, shown: String },
}

/// How an id is named in a message: quoted, control characters escaped, cut after 80 characters,
/// so that an id sent to refuse it cannot drive a terminal or flood a line.
fn shown(id: &str) -> String {
    const SHOWN: usize = 80;
    let mut cut: String = id.chars().take(SHOWN).collect();
    if cut.len() < id.len() {
        cut.push('…');
    }
    format!("\"{}\"", crate::text::printable(&cut))
}

/// Checks an organization id: decimal digits only.
pub fn check_org_id(id: &str) -> Result<(), IdError> {
    if (1..=MAX_ORG_ID_DIGITS).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdError::Organization { shown: shown(id) })
    }
}

/// Checks an id of Meraki's id alphabet (`what` names it in the error: "network id", "serial").
pub fn check_meraki_id(what: &'static str, id: &str) -> Result<(), IdError> {
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-');
    if (1..=MAX_ID_LENGTH).contains(&id.len()) && id.bytes().all(alphabet) {
        Ok(())
    } else {
        Err(IdError::Other {
            what,
            shown: shown(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_ids_are_digits() {
        for good in [
            "549236",
            "1",
            "1234567890123456789",
            &"9".repeat(MAX_ORG_ID_DIGITS),
        ] {
            assert_eq!(check_org_id(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "1/../666666",
            "..",
            "549236 ",
            " 549236",
            "5492a6",
            "-1",
            "+1",
            "1e5",
            "５４９",
            "549236\n",
            &"9".repeat(MAX_ORG_ID_DIGITS + 1),
        ] {
            assert!(check_org_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_org_id("1/../666666").unwrap_err().to_string(),
            "organization id \"1/../666666\" is not the API's shape (1 to 24 digits)"
        );
        assert_eq!(
            check_org_id("\u{1b}[2J").unwrap_err().to_string(),
            "organization id \"\\u{1b}[2J\" is not the API's shape (1 to 24 digits)"
        );
        let long = check_org_id(&"x".repeat(10_000)).unwrap_err().to_string();
        assert!(long.len() < 200, "{long}");
        assert!(long.contains("x…\""), "{long}");
    }

    #[test]
    fn other_ids_are_merakis_alphabet() {
        for good in ["N_24329156", "L_1", "Q2XX-AAAA-0001", "k_3f9", "212406"] {
            assert_eq!(check_meraki_id("network id", good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "N_1/../2",
            "a b",
            "Q2XX%2F",
            "x.y",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_meraki_id("serial", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_meraki_id("serial", "a/b").unwrap_err().to_string(),
            "serial \"a/b\" is not the API's shape (1 to 64 letters, digits, '_' or '-')"
        );
    }
}
