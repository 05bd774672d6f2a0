//! Names shared by the stand-in CAS and the simulated clients: the lab's Exchange organisation.

use crate::base64;

/// The name clients connect to (the VIP's certificate name).
pub const HOST: &str = "mail.contoso.test";
pub const DOMAIN: &str = "CONTOSO";
/// Every simulated user's password. Deliberately fake, and deliberately present in the captures
/// (form logons and Basic credentials) so that the analyzer's redaction gets tested.
pub const PASSWORD: &str = "P@ss-lab-only";
/// Exchange 2010 SP3 build, which OWA and ECP put in their static resource paths.
pub const BUILD: &str = "14.3.123.4";
/// The offline address book's GUID folder.
pub const OAB_PATH: &str = "/oab/2f5c1e9a-7d3b-4c8e-9a61-0b4d2e7f9c13/oab.xml";
/// The `Set-Cookie` attribute that deletes a cookie.
pub const EXPIRED: &str = "expires=Thu, 01-Jan-1970 00:00:00 GMT";
/// The OWA session cookies a forms logon creates and a logoff expires.
pub const LOGON_COOKIES: [&str; 7] = [
    "cadata",
    "cadataIV",
    "cadataKey",
    "cadataSig",
    "cadataTTL",
    "sessionid",
    "UserContext",
];
/// The OWA logon page's images, which the browser fetches (pipelined) before posting the form.
pub const LOGON_RESOURCES: [&str; 3] = [
    "themes/resources/lgntopl.gif",
    "themes/resources/lgnbotl.gif",
    "themes/resources/logon.css",
];

pub fn account(number: u32) -> String {
    format!("user{number}")
}

/// `Authorization` value for Basic credentials `CONTOSO\user:password`.
pub fn basic_authorization(user: &str) -> String {
    format!(
        "Basic {}",
        base64::encode(format!("{DOMAIN}\\{user}:{PASSWORD}").as_bytes())
    )
}

/// The user name of a Basic `Authorization` value (domain stripped); the password is dropped
/// here and never returned.
pub fn basic_user(authorization: &str) -> Option<String> {
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = base64::decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, _password) = text.split_once(':')?;
    let user = login.rsplit_once('\\').map_or(login, |(_, user)| user);
    (!user.is_empty()).then(|| user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_round_trip_to_the_user_only() {
        let header = basic_authorization("user3");
        assert_eq!(header, "Basic Q09OVE9TT1x1c2VyMzpQQHNzLWxhYi1vbmx5");
        assert_eq!(basic_user(&header), Some("user3".to_owned()));
    }

    #[test]
    fn rejects_other_schemes_and_garbage() {
        assert_eq!(basic_user("NTLM TlRMTVNTUAAB"), None);
        assert_eq!(basic_user("Basic !!!!"), None);
        assert_eq!(
            basic_user(&format!("Basic {}", base64::encode(b"no-colon"))),
            None
        );
        assert_eq!(
            basic_user(&format!("Basic {}", base64::encode(b"CONTOSO\\:x"))),
            None
        );
        assert_eq!(
            basic_user(&format!("basic {}", base64::encode(b"bob:x"))),
            Some("bob".to_owned())
        );
    }
}
