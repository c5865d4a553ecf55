//! A certificate's subject as the string Java's `X500Principal.getName()` gives (RFC 2253),
//! which Kafka's default SSL principal mapping takes as the user name: the relative
//! distinguished names last to first, `CN=client,OU=eng,O=example,C=DE`. Only the DER needed
//! to reach the subject is read.

/// Why a certificate's subject could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed certificate: {0}")]
pub struct DerError(&'static str);

/// One DER element: its tag and contents.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
    /// The whole element, header included (for `#hex` values).
    raw: &'a [u8],
}

/// Reads the element at the front of `input`, returning it and what follows.
fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError("truncated"))?;
    let (&first, mut rest) = rest.split_first().ok_or(DerError("truncated"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DerError("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(DerError("truncated"));
    }
    let header = input.len() - rest.len();
    Ok((
        Tlv {
            tag,
            body: &rest[..len],
            raw: &input[..header + len],
        },
        &rest[len..],
    ))
}

fn expect(input: &[u8], tag: u8) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (tlv, rest) = read(input)?;
    if tlv.tag != tag {
        return Err(DerError("unexpected element"));
    }
    Ok((tlv, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The subject of a DER certificate, in RFC 2253 form.
pub fn subject_name(certificate: &[u8]) -> Result<String, DerError> {
    let (cert, _) = expect(certificate, SEQUENCE)?;
    let (tbs, _) = expect(cert.body, SEQUENCE)?;
    let mut fields = tbs.body;
    // [0] EXPLICIT version, when not v1.
    if fields.first() == Some(&0xa0) {
        fields = read(fields)?.1;
    }
    let (_serial, rest) = read(fields)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (_validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, _) = expect(rest, SEQUENCE)?;
    name_rfc2253(subject.body)
}

/// A Name's RDN sequence (its contents) in RFC 2253 form.
fn name_rfc2253(mut rdns: &[u8]) -> Result<String, DerError> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = expect(rdns, SET)?;
        rdns = rest;
        let mut attributes = Vec::new();
        let mut items = set.body;
        while !items.is_empty() {
            let (atv, rest) = expect(items, SEQUENCE)?;
            items = rest;
            let (oid, rest) = expect(atv.body, OID)?;
            let (value, _) = read(rest)?;
            attributes.push(attribute(oid.body, &value)?);
        }
        parts.push(attributes.join("+"));
    }
    parts.reverse();
    Ok(parts.join(","))
}

/// `TYPE=value` for one attribute: a keyword and the escaped string for the types RFC 2253
/// names, else the dotted OID and `#` with the value's DER in hex (as Java prints them).
fn attribute(oid: &[u8], value: &Tlv<'_>) -> Result<String, DerError> {
    let keyword = match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x09] => Some("STREET"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => Some("UID"),
        _ => None,
    };
    // UTF8String, PrintableString, IA5String, TeletexString (read as Latin-1), BMPString.
    let text = match value.tag {
        0x0c | 0x13 | 0x16 => std::str::from_utf8(value.body).ok().map(str::to_string),
        0x14 => Some(value.body.iter().map(|&b| char::from(b)).collect()),
        0x1e => {
            let units: Vec<u16> = value
                .body
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    };
    match (keyword, text) {
        (Some(k), Some(t)) => Ok(format!("{k}={}", escape(&t))),
        _ => {
            let hex: String = value.raw.iter().map(|b| format!("{b:02x}")).collect();
            Ok(format!("{}=#{hex}", dotted(oid)?))
        }
    }
}

/// RFC 2253 escaping: `,+"\<>;` anywhere, `#` or a space in front, a space at the end.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An OID's dotted form.
fn dotted(oid: &[u8]) -> Result<String, DerError> {
    let (&first, rest) = oid.split_first().ok_or(DerError("empty OID"))?;
    let mut parts = vec![u64::from(first / 40).min(2), 0];
    parts[1] = u64::from(first) - parts[0] * 40;
    let mut n: u64 = 0;
    for &b in rest {
        n = n.checked_mul(128).ok_or(DerError("OID arc too large"))? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            parts.push(n);
            n = 0;
        }
    }
    Ok(parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of `SEQUENCE { SET { SEQUENCE { OID, value } } ... }` built by hand.
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if body.len() < 0x80 {
            out.push(body.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(body);
        out
    }

    fn rdn(attrs: &[(&[u8], u8, &str)]) -> Vec<u8> {
        let mut set = Vec::new();
        for (oid, tag, value) in attrs {
            let mut atv = tlv(OID, oid);
            atv.extend(tlv(*tag, value.as_bytes()));
            set.extend(tlv(SEQUENCE, &atv));
        }
        tlv(SET, &set)
    }

    #[test]
    fn names_print_last_rdn_first_with_keywords_and_escapes() {
        let mut name = Vec::new();
        name.extend(rdn(&[(&[0x55, 4, 6], 0x13, "DE")]));
        name.extend(rdn(&[(&[0x55, 4, 10], 0x0c, "Example, Inc.")]));
        name.extend(rdn(&[
            (&[0x55, 4, 11], 0x0c, "eng"),
            (&[0x55, 4, 11], 0x0c, "ops"),
        ]));
        name.extend(rdn(&[(&[0x55, 4, 3], 0x0c, "client")]));
        assert_eq!(
            name_rfc2253(&name).unwrap(),
            "CN=client,OU=eng+OU=ops,O=Example\\, Inc.,C=DE"
        );
        // emailAddress has no RFC 2253 keyword: Java prints the OID and the DER in hex.
        let email = rdn(&[(
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
            0x16,
            "a@b",
        )]);
        assert_eq!(
            name_rfc2253(&email).unwrap(),
            "1.2.840.113549.1.9.1=#1603614062"
        );
    }

    #[test]
    fn the_subject_is_found_after_the_fields_before_it() {
        let subject = tlv(SEQUENCE, &rdn(&[(&[0x55, 4, 3], 0x0c, "broker")]));
        let issuer = tlv(SEQUENCE, &rdn(&[(&[0x55, 4, 3], 0x0c, "ca")]));
        let mut tbs = tlv(0xa0, &tlv(0x02, &[2]));
        tbs.extend(tlv(0x02, &[1, 2, 3]));
        tbs.extend(tlv(SEQUENCE, &tlv(OID, &[0x2a, 0x03])));
        tbs.extend(issuer);
        tbs.extend(tlv(SEQUENCE, &[]));
        tbs.extend(subject);
        let cert = tlv(SEQUENCE, &tlv(SEQUENCE, &tbs));
        assert_eq!(subject_name(&cert).unwrap(), "CN=broker");
        assert!(subject_name(&cert[..cert.len() - 3]).is_err());
        assert!(subject_name(&[]).is_err());
    }

    #[test]
    fn escapes_follow_rfc_2253() {
        assert_eq!(escape("#a b "), "\\#a b\\ ");
        assert_eq!(escape("a+b;c\"d"), "a\\+b\\;c\\\"d");
    }
}
