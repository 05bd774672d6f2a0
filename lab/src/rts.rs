//! Just enough of RPC over HTTP v2 ([MS-RPCH] 2.2.3) to open an Outlook Anywhere virtual
//! connection: the RTS PDUs CONN/A1 (OUT channel, 76 bytes), CONN/B1 (IN channel, 104 bytes),
//! CONN/A3 and CONN/C2 (server, on OUT), and opaque request/response PDUs as channel traffic.
//! Both channels of one virtual connection carry the same virtual-connection cookie; a CAS can
//! only join them if both reach it.

pub type Cookie = [u8; 16];

/// The `Content-Length` both channels announce (RPC_IN_DATA's request, RPC_OUT_DATA's
/// response): 1 GiB, as Outlook and the RPC proxy do; the channel ends long before.
pub const CHANNEL_LENGTH: u64 = 1 << 30;

/// Common header: version 5.0, packed data representation (little-endian, ASCII, IEEE).
const RPC_VERSION: [u8; 2] = [5, 0];
const DREP: [u8; 4] = [0x10, 0, 0, 0];
const PFC_FIRST_AND_LAST: u8 = 0x03;
const COMMON_HEADER_LEN: usize = 16;

const PTYPE_REQUEST: u8 = 0;
const PTYPE_RESPONSE: u8 = 2;
const PTYPE_RTS: u8 = 20;

/// RTS command types (2.2.3.5).
const RECEIVE_WINDOW_SIZE: u32 = 0;
const CONNECTION_TIMEOUT: u32 = 2;
const COOKIE: u32 = 3;
const CHANNEL_LIFETIME: u32 = 4;
const CLIENT_KEEPALIVE: u32 = 5;
const VERSION: u32 = 6;
const ASSOCIATION_GROUP_ID: u32 = 12;

enum Command<'a> {
    Word(u32, u32),
    Cookie(u32, &'a Cookie),
}

fn rts_pdu(commands: &[Command]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&0u16.to_le_bytes()); // flags: none
    body.extend_from_slice(&(commands.len() as u16).to_le_bytes());
    for command in commands {
        match command {
            Command::Word(kind, value) => {
                body.extend_from_slice(&kind.to_le_bytes());
                body.extend_from_slice(&value.to_le_bytes());
            }
            Command::Cookie(kind, cookie) => {
                body.extend_from_slice(&kind.to_le_bytes());
                body.extend_from_slice(&cookie[..]);
            }
        }
    }
    pdu(PTYPE_RTS, 0, &body)
}

fn pdu(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let length = (COMMON_HEADER_LEN + body.len()) as u16;
    let mut out = Vec::with_capacity(length as usize);
    out.extend_from_slice(&RPC_VERSION);
    out.push(ptype);
    out.push(PFC_FIRST_AND_LAST);
    out.extend_from_slice(&DREP);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // auth_length
    out.extend_from_slice(&call_id.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// CONN/A1, the body of RPC_OUT_DATA.
pub fn conn_a1(virtual_connection: &Cookie, out_channel: &Cookie) -> Vec<u8> {
    rts_pdu(&[
        Command::Word(VERSION, 1),
        Command::Cookie(COOKIE, virtual_connection),
        Command::Cookie(COOKIE, out_channel),
        Command::Word(RECEIVE_WINDOW_SIZE, 0x0001_0000),
    ])
}

/// CONN/B1, the first bytes of RPC_IN_DATA's body.
pub fn conn_b1(
    virtual_connection: &Cookie,
    in_channel: &Cookie,
    association_group: &Cookie,
) -> Vec<u8> {
    rts_pdu(&[
        Command::Word(VERSION, 1),
        Command::Cookie(COOKIE, virtual_connection),
        Command::Cookie(COOKIE, in_channel),
        Command::Word(CHANNEL_LIFETIME, 0x4000_0000),
        Command::Word(CLIENT_KEEPALIVE, 300_000),
        Command::Cookie(ASSOCIATION_GROUP_ID, association_group),
    ])
}

/// CONN/A3: the proxy acknowledges the OUT channel.
pub fn conn_a3() -> Vec<u8> {
    rts_pdu(&[Command::Word(CONNECTION_TIMEOUT, 120_000)])
}

/// CONN/C2: both channels joined; the virtual connection is open.
pub fn conn_c2() -> Vec<u8> {
    rts_pdu(&[
        Command::Word(VERSION, 1),
        Command::Word(RECEIVE_WINDOW_SIZE, 0x0001_0000),
        Command::Word(CONNECTION_TIMEOUT, 120_000),
    ])
}

pub const CONN_B1_LEN: usize = 104;
pub const CONN_A3_LEN: usize = 28;
pub const CONN_C2_LEN: usize = 44;

/// A request (client) or response (server) PDU of `length` bytes with a patterned stub.
pub fn traffic_pdu(from_client: bool, call_id: u32, length: usize) -> Vec<u8> {
    let stub: Vec<u8> = (0..length.saturating_sub(COMMON_HEADER_LEN))
        .map(|i| (i as u32).wrapping_add(call_id) as u8)
        .collect();
    pdu(
        if from_client {
            PTYPE_REQUEST
        } else {
            PTYPE_RESPONSE
        },
        call_id,
        &stub,
    )
}

/// The virtual-connection cookie of a CONN/A1 or CONN/B1: the first Cookie command, which in
/// both follows the Version command.
pub fn virtual_connection_cookie(pdu: &[u8]) -> Option<Cookie> {
    if pdu.get(..3)? != [RPC_VERSION[0], RPC_VERSION[1], PTYPE_RTS] {
        return None;
    }
    let mut commands = pdu.get(COMMON_HEADER_LEN + 4..)?;
    while let Some((kind, rest)) = commands.split_first_chunk::<4>() {
        let value_len = match u32::from_le_bytes(*kind) {
            COOKIE => return rest.first_chunk::<16>().copied(),
            ASSOCIATION_GROUP_ID => 16,
            RECEIVE_WINDOW_SIZE | CONNECTION_TIMEOUT | CHANNEL_LIFETIME | CLIENT_KEEPALIVE
            | VERSION => 4,
            _ => return None,
        };
        commands = rest.get(value_len..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const VC: Cookie = [0x11; 16];
    const CHANNEL: Cookie = [0x22; 16];

    #[test]
    fn pdus_have_the_specified_sizes() {
        assert_eq!(conn_a1(&VC, &CHANNEL).len(), 76);
        assert_eq!(conn_b1(&VC, &CHANNEL, &[0x33; 16]).len(), CONN_B1_LEN);
        assert_eq!(conn_a3().len(), CONN_A3_LEN);
        assert_eq!(conn_c2().len(), CONN_C2_LEN);
        assert_eq!(traffic_pdu(true, 1, 300).len(), 300);
    }

    #[test]
    fn common_header_fields() {
        let a1 = conn_a1(&VC, &CHANNEL);
        assert_eq!(
            a1[..16],
            [5, 0, 20, 3, 0x10, 0, 0, 0, 76, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(a1[16..20], [0, 0, 4, 0]);
        assert_eq!(traffic_pdu(false, 7, 20)[2], PTYPE_RESPONSE);
    }

    #[test]
    fn reads_the_virtual_connection_cookie_of_both_channels() {
        assert_eq!(virtual_connection_cookie(&conn_a1(&VC, &CHANNEL)), Some(VC));
        assert_eq!(
            virtual_connection_cookie(&conn_b1(&VC, &CHANNEL, &[0x33; 16])),
            Some(VC)
        );
    }

    #[test]
    fn rejects_other_pdus_and_truncation() {
        assert_eq!(virtual_connection_cookie(&conn_a3()), None);
        assert_eq!(virtual_connection_cookie(&traffic_pdu(true, 1, 100)), None);
        let a1 = conn_a1(&VC, &CHANNEL);
        for cut in 0..a1.len() {
            let expected = (cut >= 16 + 4 + 8 + 4 + 16).then_some(VC);
            assert_eq!(
                virtual_connection_cookie(&a1[..cut]),
                expected,
                "cut at {cut}"
            );
        }
    }
}
