//! Issuer-bound session tickets, standing in for Exchange 2010's `cadata` and ECP canary:
//! a real CAS encrypts them with its own key, so a request carrying another CAS's ticket fails
//! (OWA answers 440 Login Timeout). Here a ticket is readable by every CAS (base64 of a
//! keystream-masked `issuer|user|serial` plus a checksum) so that the refusing server can log
//! who issued it; only the issuer accepts it.

use crate::base64;
use crate::rng::{fnv1a, Rng};

/// Fixed lab-wide mask seed: tickets must look opaque, not be secret.
const MASK_SEED: u64 = 0x1abc_a50a;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub issuer: String,
    pub user: String,
    pub serial: u32,
}

impl Ticket {
    /// Base64 text of the masked ticket.
    pub fn seal(&self) -> String {
        let mut plain = format!("{}|{}|{}", self.issuer, self.user, self.serial).into_bytes();
        let checksum = fnv1a(&plain).to_le_bytes();
        plain.extend_from_slice(&checksum[..4]);
        mask(&mut plain);
        base64::encode(&plain)
    }

    /// Reads a sealed ticket; surrounding double quotes (as in `cadata="..."`) are ignored.
    pub fn open(text: &str) -> Option<Ticket> {
        let mut bytes = base64::decode(text.trim_matches('"'))?;
        mask(&mut bytes);
        let (plain, checksum) = bytes.split_last_chunk::<4>()?;
        if fnv1a(plain).to_le_bytes()[..4] != checksum[..] {
            return None;
        }
        let text = std::str::from_utf8(plain).ok()?;
        let mut fields = text.split('|');
        let (issuer, user, serial) = (fields.next()?, fields.next()?, fields.next()?.parse().ok()?);
        fields.next().is_none().then(|| Ticket {
            issuer: issuer.to_owned(),
            user: user.to_owned(),
            serial,
        })
    }

    /// Bytes derived from the ticket and a label (sessionid, UserContext…), so that every
    /// cookie of one logon is tied to it.
    pub fn derived_bytes(&self, label: &str, count: usize) -> Vec<u8> {
        let mut rng = Rng::new(fnv1a(
            format!("{}|{}|{}|{label}", self.issuer, self.user, self.serial).as_bytes(),
        ));
        (0..count).map(|_| rng.next_u64() as u8).collect()
    }

    /// [`Ticket::derived_bytes`] in uppercase hex.
    pub fn derived_hex(&self, label: &str, count: usize) -> String {
        self.derived_bytes(label, count)
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect()
    }

    /// A GUID-formatted derived identifier: `8-4-4-4-12` lowercase hex.
    pub fn derived_guid(&self, label: &str) -> String {
        let hex = self.derived_hex(label, 16).to_ascii_lowercase();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

fn mask(bytes: &mut [u8]) {
    let mut keystream = Rng::new(MASK_SEED);
    for byte in bytes {
        *byte ^= keystream.next_u64() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Ticket {
            issuer: "CAS02".into(),
            user: "user4".into(),
            serial: 17,
        }
    }

    #[test]
    fn seals_and_opens_with_or_without_quotes() {
        let sealed = ticket().seal();
        assert!(!sealed.contains("CAS02"));
        assert_eq!(Ticket::open(&sealed), Some(ticket()));
        assert_eq!(Ticket::open(&format!("\"{sealed}\"")), Some(ticket()));
    }

    #[test]
    fn rejects_tampering_and_garbage() {
        let mut bytes = base64::decode(&ticket().seal()).unwrap();
        bytes[0] ^= 1;
        assert_eq!(Ticket::open(&base64::encode(&bytes)), None);
        assert_eq!(Ticket::open("not base64"), None);
        assert_eq!(Ticket::open(""), None);
        assert_eq!(Ticket::open(&base64::encode(b"abc")), None);
    }

    #[test]
    fn derived_identifiers_are_stable_and_distinct() {
        assert_eq!(ticket().derived_hex("UserContext", 16).len(), 32);
        assert_eq!(ticket().derived_hex("a", 4), ticket().derived_hex("a", 4));
        assert_ne!(ticket().derived_hex("a", 4), ticket().derived_hex("b", 4));
        let guid = ticket().derived_guid("sessionid");
        assert_eq!(guid.len(), 36);
        assert_eq!(guid.matches('-').count(), 4);
    }
}
