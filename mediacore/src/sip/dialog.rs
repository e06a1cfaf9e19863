//! Pure: SIP dialogs (RFC 3261 §12): the identifiers, sequence numbers, route set and
//! remote target of one call leg, and the in-dialog requests built from them (BYE,
//! re-INVITE, the ACK for a 2xx).

use super::message::{Headers, Method, Request, Response, SipMessage, Version};

use super::message::{self, header_param, headers_named, push_header, SipError, Transport};

/// What identifies a dialog on our side (§12): Call-ID, our tag, their tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (To tag when we are the UAS, From tag when we are the UAC).
    pub local_tag: String,
    /// Their tag.
    pub remote_tag: String,
}

/// One confirmed dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Its identifiers.
    pub id: DialogId,
    /// Our URI as name-addr without tag (From of our requests).
    local_uri: String,
    /// Their URI as name-addr without tag (To of our requests).
    remote_uri: String,
    /// Our last CSeq number.
    local_cseq: u32,
    /// Their last CSeq number, to spot out-of-order requests (§12.2.2).
    remote_cseq: Option<u32>,
    /// Where our requests go: their Contact URI (§12.1.1, §12.1.2).
    remote_target: String,
    /// Record-Route values, in the order our requests carry them as Route.
    route_set: Vec<String>,
    /// Our Via sent-by and transport.
    sent_by: String,
    transport: Transport,
}

impl Dialog {
    /// The dialog we create by answering `invite` with `local_tag` (§12.1.1).
    pub fn as_uas(
        invite: &Request,
        local_tag: &str,
        sent_by: &str,
        transport: Transport,
    ) -> Result<Self, SipError> {
        let ids = message::Ids::of(&invite.headers)?;
        // An RFC 2543 INVITE may carry no Contact; the caller is then reached at its From
        // address, as RFC 2543 §6.13 had it (RFC 4475 §3.4.1 asks us to take such a call).
        let contact = headers_named(&invite.headers, "Contact")
            .next()
            .or_else(|| message::header(&invite.headers, "From"))
            .ok_or(SipError::MissingHeader { name: "Contact" })?;
        Self {
            id: DialogId {
                call_id: ids.call_id,
                local_tag: local_tag.to_owned(),
                remote_tag: ids.from_tag,
            },
            local_uri: without_tag(message::header(&invite.headers, "To").unwrap_or_default()),
            remote_uri: without_tag(message::header(&invite.headers, "From").unwrap_or_default()),
            local_cseq: rand::random::<u16>().into(),
            remote_cseq: Some(ids.cseq),
            remote_target: message::addr_uri(contact).to_owned(),
            route_set: record_route(&invite.headers),
            sent_by: sent_by.to_owned(),
            transport,
        }
        .usable()
    }

    /// The dialog a 2xx to our `invite` creates (§12.1.2): route set reversed.
    pub fn as_uac(
        invite: &Request,
        response: &Response,
        transport: Transport,
    ) -> Result<Self, SipError> {
        let ids = message::Ids::of(&response.headers)?;
        let remote_tag = ids
            .to_tag
            .ok_or(SipError::MissingHeader { name: "To tag" })?;
        let contact = headers_named(&response.headers, "Contact")
            .next()
            .ok_or(SipError::MissingHeader { name: "Contact" })?;
        let sent_by = message::Ids::of(&invite.headers)?.sent_by;
        let mut route_set = record_route(&response.headers);
        route_set.reverse();
        Self {
            id: DialogId {
                call_id: ids.call_id,
                local_tag: ids.from_tag,
                remote_tag,
            },
            local_uri: without_tag(message::header(&invite.headers, "From").unwrap_or_default()),
            remote_uri: without_tag(message::header(&response.headers, "To").unwrap_or_default()),
            local_cseq: ids.cseq,
            remote_cseq: None,
            remote_target: message::addr_uri(contact).to_owned(),
            route_set,
            sent_by,
            transport,
        }
        .usable()
    }

    /// Where in-dialog requests go (the remote target), for the driver to resolve when
    /// there is no route set.
    pub fn remote_target(&self) -> &str {
        self.route_set
            .first()
            .map_or(&self.remote_target, |r| message::addr_uri(r))
    }

    /// A new in-dialog request (BYE, re-INVITE, OPTIONS...) with the next CSeq.
    pub fn request(&mut self, method: Method) -> Result<Request, SipError> {
        self.local_cseq += 1;
        self.build(method, self.local_cseq, &message::branch())
    }

    /// The ACK for a 2xx to the INVITE with CSeq `cseq` (§13.2.2.4): its own transaction
    /// branch, the INVITE's CSeq number.
    pub fn ack(&self, cseq: u32) -> Result<Request, SipError> {
        self.build(Method::Ack, cseq, &message::branch())
    }

    fn build(&self, method: Method, cseq: u32, branch: &str) -> Result<Request, SipError> {
        if !crate::sip::parse::is_uri(&self.remote_target) {
            return Err(SipError::bad("Contact", &self.remote_target));
        }
        let mut headers = Headers::default();
        let via = format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport.token(),
            self.sent_by
        );
        push_header(&mut headers, "Via", via);
        push_header(&mut headers, "Max-Forwards", "70");
        for route in &self.route_set {
            push_header(&mut headers, "Route", route.clone());
        }
        push_header(
            &mut headers,
            "From",
            format!("{};tag={}", self.local_uri, self.id.local_tag),
        );
        push_header(
            &mut headers,
            "To",
            format!("{};tag={}", self.remote_uri, self.id.remote_tag),
        );
        push_header(&mut headers, "Call-ID", self.id.call_id.clone());
        push_header(&mut headers, "CSeq", format!("{cseq} {method}"));
        push_header(&mut headers, "User-Agent", message::AGENT);
        let request = Request {
            method,
            uri: self.remote_target.clone(),
            version: Version::V2,
            headers,
            body: Vec::new(),
        };
        // The target, URIs and routes came from the peer: what they make must be a request
        // we (and so the peer) can read, never a malformed one on the wire.
        let bytes = message::to_bytes(&SipMessage::Request(request.clone()));
        // Read back with the same identifiers: a stray quote in the peer's From or To would
        // otherwise swallow our tag (found by the sip_dialog fuzz target).
        let readable = message::parse(&bytes).is_ok_and(|m| match m {
            SipMessage::Request(r) => message::Ids::of(&r.headers).is_ok_and(|ids| {
                ids.call_id == self.id.call_id
                    && ids.from_tag == self.id.local_tag
                    && ids.to_tag.as_deref() == Some(self.id.remote_tag.as_str())
            }),
            SipMessage::Response(_) => false,
        });
        if !readable {
            return Err(SipError::BadHeader {
                name: "Contact, From, To or Record-Route",
                value: self.remote_target.clone(),
            });
        }
        Ok(request)
    }

    /// Whether requests in this dialog can be built (see [`Dialog::build`]).
    fn usable(self) -> Result<Self, SipError> {
        self.build(Method::Bye, self.local_cseq, "z9hG4bKcheck")?;
        Ok(self)
    }

    /// Checks an in-dialog request's CSeq (§12.2.2): lower than the last one is out of
    /// order (answer 500); updates the remote target on a target refresh (re-INVITE).
    pub fn on_request(&mut self, request: &Request) -> Result<(), SipError> {
        let ids = message::Ids::of(&request.headers)?;
        if request.method != Method::Ack {
            if self.remote_cseq.is_some_and(|last| ids.cseq < last) {
                return Err(SipError::BadHeader {
                    name: "CSeq",
                    value: format!("{} is out of order", ids.cseq),
                });
            }
            self.remote_cseq = Some(ids.cseq);
        }
        if request.method == Method::Invite {
            if let Some(contact) = headers_named(&request.headers, "Contact").next() {
                // A target we could not send to is refused; the old one stays.
                let old = std::mem::replace(
                    &mut self.remote_target,
                    message::addr_uri(contact).to_owned(),
                );
                if let Err(e) = self.build(Method::Bye, self.local_cseq, "z9hG4bKcheck") {
                    self.remote_target = old;
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// Every Record-Route entry, split on commas, in message order.
fn record_route(headers: &Headers) -> Vec<String> {
    headers_named(headers, "Record-Route")
        .flat_map(split_name_addrs)
        .collect()
}

/// Splits a comma-separated list of name-addrs, ignoring commas inside `<...>` and quotes.
fn split_name_addrs(value: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// A From/To value without its tag parameter.
fn without_tag(value: &str) -> String {
    match header_param(value, "tag") {
        None => value.trim().to_owned(),
        Some(_) => {
            let cut = value.rfind('>').map_or(0, |i| i + 1);
            let (addr, params) = value.split_at(cut);
            let kept: Vec<&str> = params
                .split(';')
                .filter(|p| {
                    !p.trim().to_ascii_lowercase().starts_with("tag=") && !p.trim().is_empty()
                })
                .collect();
            let mut out = addr.trim().to_owned();
            if cut == 0 {
                // addr-spec form: the tag is after the URI's own ';'
                out = value
                    .split(";tag=")
                    .next()
                    .unwrap_or(value)
                    .trim()
                    .to_owned();
            } else {
                for p in kept {
                    out.push(';');
                    out.push_str(p.trim());
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::message::SipMessage;
    use super::*;

    /// Read as the endpoint reads, faults included: the dialog must hold even against what
    /// `parse` would already refuse.
    fn req(text: &str) -> Request {
        match message::read(text.as_bytes()).unwrap().message {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!(),
        }
    }

    const INVITE: &str = "INVITE sip:100@10.78.0.11 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.78.0.1:5060;branch=z9hG4bK1\r\n\
        Record-Route: <sip:p1@10.78.0.2;lr>, <sip:p2@10.78.0.3;lr>\r\n\
        From: \"Carrier\" <sip:0744@10.78.0.1>;tag=ft\r\n\
        To: <sip:100@10.78.0.11>\r\n\
        Call-ID: d1\r\n\
        CSeq: 5 INVITE\r\n\
        Contact: <sip:0744@10.78.0.1:5070>\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn a_contact_we_could_not_send_to_makes_no_dialog_and_no_target() {
        // Found by the sip_dialog fuzz target: a space inside the peer's Contact URI made a
        // BYE we could not read back ourselves.
        let bad = INVITE.replace("<sip:0744@10.78.0.1:5070>", "<s0p:i 744@10.78.0.1:5070>");
        assert!(Dialog::as_uas(&req(&bad), "lt", "10.78.0.11:5060", Transport::Udp).is_err());
        // A stray quote in the peer's To would swallow our tag in the From of our BYE.
        let quote = INVITE.replace(
            "To: <sip:100@10.78.0.11>",
            "To: <sip:100@10.78.0.1\" <sip:0744@10.78.0.1:5060>\u{94};.0.1:5060>\u{94};tag;23535",
        );
        assert!(Dialog::as_uas(&req(&quote), "lt", "10.78.0.11:5060", Transport::Udp).is_err());
        // And a target without a scheme (once read on into the next lines).
        let no_scheme = INVITE.replace("<sip:0744@10.78.0.1:5070>", "IP/2.0");
        assert!(Dialog::as_uas(&req(&no_scheme), "lt", "10.78.0.11:5060", Transport::Udp).is_err());
        let mut d = Dialog::as_uas(&req(INVITE), "lt", "10.78.0.11:5060", Transport::Udp).unwrap();
        let reinvite = bad.replace("CSeq: 5 INVITE", "CSeq: 6 INVITE");
        assert!(d.on_request(&req(&reinvite)).is_err());
        let bye = d.request(Method::Bye).unwrap();
        assert_eq!(
            bye.uri.to_string(),
            "sip:0744@10.78.0.1:5070",
            "the old target stays"
        );
    }

    #[test]
    fn a_uas_bye_goes_to_the_contact_through_the_record_route_in_order() {
        let invite = req(INVITE);
        let mut d = Dialog::as_uas(&invite, "lt", "10.78.0.11:5060", Transport::Udp).unwrap();
        let bye = d.request(Method::Bye).unwrap();
        assert_eq!(bye.uri.to_string(), "sip:0744@10.78.0.1:5070");
        let routes: Vec<_> = headers_named(&bye.headers, "Route").collect();
        assert_eq!(routes, ["<sip:p1@10.78.0.2;lr>", "<sip:p2@10.78.0.3;lr>"]);
        let ids = message::Ids::of(&bye.headers).unwrap();
        assert_eq!(
            (ids.from_tag.as_str(), ids.to_tag.as_deref()),
            ("lt", Some("ft"))
        );
        assert_eq!(
            message::header(&bye.headers, "From"),
            Some("<sip:100@10.78.0.11>;tag=lt")
        );
        assert_eq!(
            message::header(&bye.headers, "To"),
            Some("\"Carrier\" <sip:0744@10.78.0.1>;tag=ft")
        );
        assert_eq!(d.remote_target(), "sip:p1@10.78.0.2;lr");
    }

    #[test]
    fn out_of_order_requests_are_refused() {
        let invite = req(INVITE);
        let mut d = Dialog::as_uas(&invite, "lt", "10.78.0.11:5060", Transport::Udp).unwrap();
        let bye = req(&INVITE
            .replace("INVITE sip", "BYE sip")
            .replace("CSeq: 5 INVITE", "CSeq: 4 BYE"));
        assert!(d.on_request(&bye).is_err());
        let bye = req(&INVITE
            .replace("INVITE sip", "BYE sip")
            .replace("CSeq: 5 INVITE", "CSeq: 6 BYE"));
        assert!(d.on_request(&bye).is_ok());
    }

    #[test]
    fn a_uac_dialog_reverses_the_route_set_and_acks_with_the_invite_cseq() {
        let invite = req(&INVITE.replace(
            "Record-Route: <sip:p1@10.78.0.2;lr>, <sip:p2@10.78.0.3;lr>\r\n",
            "",
        ));
        let mut resp = message::response(&invite, 200, Some("rt"));
        push_header(&mut resp.headers, "Contact", "<sip:callee@10.78.0.1:5080>");
        push_header(&mut resp.headers, "Record-Route", "<sip:p2@10.78.0.3;lr>");
        push_header(&mut resp.headers, "Record-Route", "<sip:p1@10.78.0.2;lr>");
        let d = Dialog::as_uac(&invite, &resp, Transport::Udp).unwrap();
        let ack = d.ack(5).unwrap();
        assert_eq!(message::Ids::of(&ack.headers).unwrap().cseq, 5);
        let routes: Vec<_> = headers_named(&ack.headers, "Route").collect();
        assert_eq!(routes, ["<sip:p1@10.78.0.2;lr>", "<sip:p2@10.78.0.3;lr>"]);
        assert_eq!(ack.uri.to_string(), "sip:callee@10.78.0.1:5080");
    }

    #[test]
    fn tags_are_stripped_from_both_forms() {
        assert_eq!(without_tag("<sip:a@b;x=1>;tag=9;foo"), "<sip:a@b;x=1>;foo");
        assert_eq!(without_tag("sip:a@b;tag=9"), "sip:a@b");
        assert_eq!(
            split_name_addrs("<sip:a,b@c>, \"x,y\" <sip:d>"),
            ["<sip:a,b@c>", "\"x,y\" <sip:d>"]
        );
    }
}
