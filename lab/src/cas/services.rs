//! The stateless Exchange services (Basic-authenticated, no affinity needed) and the
//! anonymous resources: health probe, static files, EWS, ActiveSync, Autodiscover, OAB.

use std::thread;
use std::time::Duration;

use super::routes::{basic_user, filler, Incoming};
use super::{Cas, Reply};
use crate::eas;
use crate::exchange::{HOST, OAB_PATH};
use crate::rng::fnv1a;

/// How long a Ping (ActiveSync's hanging request) is held when nothing changes. Real
/// heartbeats last minutes; the lab keeps runs short.
const PING_HOLD: Duration = Duration::from_millis(1200);

pub fn health(cas: &Cas) -> Reply {
    Reply::ok().body(
        "text/html",
        format!("200 OK<br/>{}.contoso.test<br/>", cas.name),
    )
}

/// A versioned OWA/ECP resource: size and type from the path, cacheable.
pub fn static_file(path: &str) -> Reply {
    let extension = path.rsplit_once('.').map_or("", |(_, extension)| extension);
    let content_type = match extension {
        "js" => "application/x-javascript",
        "css" => "text/css",
        "gif" => "image/gif",
        "png" => "image/png",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    };
    let size = 200 + (fnv1a(path.as_bytes()) % 500) as usize;
    Reply::ok()
        .header("Cache-Control", "public, max-age=2592000")
        .body(content_type, filler(size))
}

fn soap_envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header><h:ServerVersionInfo MajorVersion=\"14\" MinorVersion=\"3\" MajorBuildNumber=\"123\" MinorBuildNumber=\"4\" Version=\"Exchange2010_SP2\" xmlns:h=\"http://schemas.microsoft.com/exchange/services/2006/types\"/></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// `POST /ews/exchange.asmx`. Sets `exchangecookie`, as Exchange 2010 does, when absent.
pub fn web_services(request: &Incoming) -> Reply {
    let user = match basic_user(request) {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    if request.line.method != "POST" {
        return Reply::new(405, "Method Not Allowed").note(format!("user={user}"));
    }
    let action = request
        .head
        .header("SOAPAction")
        .and_then(|action| action.trim_matches('"').rsplit('/').next())
        .unwrap_or("?")
        .to_owned();
    let body = soap_envelope(&format!("<m:{action}Response xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\"><m:ResponseMessages><!--{}--></m:ResponseMessages></m:{action}Response>", filler(150)));
    let reply = Reply::ok()
        .header("Cache-Control", "private")
        .body("text/xml; charset=utf-8", body);
    let reply = if request.head.cookie("exchangecookie").is_some() {
        reply
    } else {
        reply.cookie(format!(
            "exchangecookie={:016x}; expires=Fri, 01-Jan-2038 00:00:00 GMT; path=/",
            fnv1a(user.as_bytes())
        ))
    };
    reply.note(format!("user={user} action={action}"))
}

const AS_VERSIONS: &str = "2.0,2.1,2.5,12.0,12.1,14.0,14.1";
const AS_COMMANDS: &str = "Sync,SendMail,SmartForward,SmartReply,GetAttachment,GetHierarchy,CreateCollection,DeleteCollection,MoveCollection,FolderSync,FolderCreate,FolderDelete,FolderUpdate,MoveItems,GetItemEstimate,MeetingResponse,Search,Settings,Ping,ItemOperations,Provision,ResolveRecipients,ValidateCert";

/// `/Microsoft-Server-ActiveSync`: OPTIONS, or a POSTed command in either query form.
pub fn activesync(request: &Incoming) -> Reply {
    let user = match basic_user(request) {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    if request.line.method == "OPTIONS" {
        return Reply::ok()
            .header("Allow", "OPTIONS,POST")
            .header("MS-Server-ActiveSync", "14.3")
            .header("MS-ASProtocolVersions", AS_VERSIONS)
            .header("MS-ASProtocolCommands", AS_COMMANDS)
            .header("Public", "OPTIONS,POST")
            .note(format!("user={user} OPTIONS"));
    }
    let Some(command) = eas::command(request.line.query()) else {
        return Reply::new(400, "Bad Request").note(format!("user={user} unreadable query"));
    };
    if command == "Ping" {
        thread::sleep(PING_HOLD);
    }
    Reply::ok()
        .header("Cache-Control", "private")
        .header("MS-Server-ActiveSync", "14.3")
        .body("application/vnd.ms-sync.wbxml", eas::wbxml_status(&command))
        .note(format!("user={user} cmd={command}"))
}

/// `POST /autodiscover/autodiscover.xml` (Outlook): the EXCH and EXPR (Outlook Anywhere)
/// settings. This CAS names itself as the RPC server, which sends Outlook back to it.
pub fn autodiscover(cas: &Cas, request: &Incoming) -> Reply {
    let user = match basic_user(request) {
        Ok(user) => user,
        Err(reply) => return reply,
    };
    let note = format!("user={user}");
    if request.line.method != "POST" || request.body.is_empty() {
        let error = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response><Error Time=\"00:00:00\" Id=\"1\"><ErrorCode>600</ErrorCode><Message>Invalid Request</Message></Error></Response></Autodiscover>";
        return Reply::ok()
            .body("text/xml; charset=utf-8", error)
            .note(note);
    }
    let server = format!("{}.contoso.test", cas.name.to_ascii_lowercase());
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\"><User><DisplayName>{user}</DisplayName></User><Account><AccountType>email</AccountType><Action>settings</Action><Protocol><Type>EXCH</Type><Server>{server}</Server><OABUrl>https://{HOST}{OAB_PATH}</OABUrl></Protocol><Protocol><Type>EXPR</Type><Server>{HOST}</Server><SSL>On</SSL><AuthPackage>Basic</AuthPackage><EwsUrl>https://{HOST}/ews/exchange.asmx</EwsUrl></Protocol></Account></Response></Autodiscover>"
    );
    Reply::ok()
        .header("Cache-Control", "private")
        .body("text/xml; charset=utf-8", body)
        .note(note)
}

pub fn offline_address_book(request: &Incoming) -> Reply {
    match basic_user(request) {
        Ok(user) => Reply::ok()
            .body("text/xml", format!("<?xml version=\"1.0\"?><OAB><OAL id=\"2f5c1e9a\" dn=\"\\Global Address List\" name=\"\\Global Address List\"><Full seq=\"12\" ver=\"32\" size=\"4096\" uncompressedsize=\"8192\" SHA=\"{:016x}\">oab-full.lzx</Full></OAL></OAB>", fnv1a(b"oab")))
            .note(format!("user={user}")),
        Err(reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_sizes_are_stable_per_path() {
        let a = static_file("/owa/14.3.123.4/scripts/premium/uglobal.js");
        assert_eq!(
            a.body.len(),
            static_file("/owa/14.3.123.4/scripts/premium/uglobal.js")
                .body
                .len()
        );
        assert!((200..700).contains(&a.body.len()));
    }
}
