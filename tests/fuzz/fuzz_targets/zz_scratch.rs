fn main() {
    for arg in std::env::args().skip(1) {
        let data = std::fs::read(&arg).unwrap_or_else(|_| arg.replace("\\r\\n", "\r\n").into_bytes());
        match mediacore::sip::message::parse(&data) {
            Ok(m) => {
                let b = mediacore::sip::message::to_bytes(&m);
                match &m { rsip::SipMessage::Request(r) => println!("REQ method={:?} uri={:?} headers={:?} body={:?}", r.method, r.uri.to_string(), r.headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(), String::from_utf8_lossy(&r.body)), rsip::SipMessage::Response(r) => println!("RESP {:?} headers={:?} body={:?}", r.status_code, r.headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(), String::from_utf8_lossy(&r.body)) }
                println!("  to_bytes={:?}", String::from_utf8_lossy(&b));
                match mediacore::sip::message::parse(&b) { Ok(rsip::SipMessage::Request(r)) => println!("  again uri={:?} headers={:?} body={:?}", r.uri.to_string(), r.headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(), String::from_utf8_lossy(&r.body)), o => println!("  again {o:?}") }
            }
            Err(e) => println!("ERR {e}"),
        }
    }
}
