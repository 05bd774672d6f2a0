//! An EWS application (a Mac Outlook or a sync tool): SOAP calls with Basic credentials on one
//! keep-alive connection, keeping the cookies it is given (`exchangecookie`, the balancer's).

use std::sync::{Arc, Mutex};

use super::jar::Jar;
use super::link::{Link, Request};
use super::net::Dialer;
use super::plan::EwsClient;
use super::Clock;
use crate::exchange::basic_authorization;

const USER_AGENT: &str = "MacOutlook/14.3.9.131030 (Intel Mac OS X Version 10.9 (Build 13A603))";
const MESSAGES: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";

pub fn run(plan: &EwsClient, dialer: &Dialer, clock: &Clock) -> String {
    clock.sleep_until(plan.start);
    let mut link = Link::new(
        dialer,
        plan.from,
        Some(Arc::new(Mutex::new(Jar::default()))),
    );
    let mut failure = String::new();
    for call in &plan.calls {
        if !clock.sleep(call.pause) {
            break;
        }
        if let Err(error) = link.send(&soap_call(&plan.user, call.action)) {
            failure = format!(" ({} failed: {error})", call.action);
            break;
        }
    }
    format!(
        "ews {} from {}{failure}; {}",
        plan.user,
        plan.from,
        link.tally.summary()
    )
}

fn soap_call(user: &str, action: &str) -> Request {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><soap:Header><t:RequestServerVersion Version=\"Exchange2010_SP2\"/></soap:Header><soap:Body><m:{action} xmlns:m=\"{MESSAGES}\"><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:{action}></soap:Body></soap:Envelope>"
    );
    Request::post("/EWS/Exchange.asmx", "text/xml; charset=utf-8", body)
        .header("SOAPAction", &format!("\"{MESSAGES}/{action}\""))
        .header("User-Agent", USER_AGENT)
        .header("Authorization", &basic_authorization(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap_call_names_its_action_twice() {
        let text = String::from_utf8(soap_call("user8", "FindItem").encode(None)).unwrap();
        assert!(text.starts_with("POST /EWS/Exchange.asmx HTTP/1.1\r\n"));
        assert!(text.contains("SOAPAction: \"http://schemas.microsoft.com/exchange/services/2006/messages/FindItem\"\r\n"));
        assert!(text.contains("<m:FindItem xmlns:m="));
    }
}
