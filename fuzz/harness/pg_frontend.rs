// The PostgreSQL frontend-message harness, shared by the `pg_frontend` fuzz target
// (fuzz/fuzz_targets/pg_frontend.rs) and the stable smoke test (server/tests/fuzz_smoke.rs)
// through `include!`: the server has no library target to put it in, and the code under test is
// pgwire's, not ours.
//
// The server hands client bytes to pgwire's `PgWireMessageServerCodec`, which calls
// `PgWireFrontendMessage::decode` with a `DecodeContext` set from the connection state
// (awaiting the SSL request, awaiting the startup packet, or past it). This harness drives the
// same decoder through the same state changes: an SSL/GSS negotiation (or its absence) moves to
// "awaiting startup", a startup packet or cancel request moves past it. The password message
// family is coerced the way the server's cleartext authentication coerces it.

use bytes::BytesMut;
use pgwire::messages::{
    DecodeContext, PgWireFrontendMessage, ProtocolVersion, SslNegotiationMetaMessage,
};

/// Messages decoded from one input at most (the decoder must consume bytes or stop).
pub const PG_MESSAGES_MAX: usize = 4096;

/// Decodes `data` as the bytes a client sends on a new connection. The first byte picks the
/// protocol version (bit 0: 3.0 or 3.2) and the state the connection starts in (bits 1-2: a
/// fresh connection, SSL refused and the startup packet due, or authenticated); the rest is
/// the client's bytes, decoded message after message until the decoder wants more or fails.
pub fn fuzz_pg_frontend(data: &[u8]) {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let version = if flags & 1 == 0 {
        ProtocolVersion::PROTOCOL3_0
    } else {
        ProtocolVersion::PROTOCOL3_2
    };
    let mut ctx = DecodeContext::new(version);
    match (flags >> 1) & 3 {
        0 => {}
        1 => ctx.awaiting_frontend_ssl = false,
        _ => {
            ctx.awaiting_frontend_ssl = false;
            ctx.awaiting_frontend_startup = false;
        }
    }
    let mut buf = BytesMut::from(bytes);
    for _ in 0..PG_MESSAGES_MAX {
        let before = buf.len();
        let state = (ctx.awaiting_frontend_ssl, ctx.awaiting_frontend_startup);
        let message = match PgWireFrontendMessage::decode(&mut buf, &ctx) {
            Ok(Some(message)) => message,
            Ok(None) | Err(_) => return,
        };
        match message {
            PgWireFrontendMessage::SslNegotiation(negotiation) => {
                ctx.awaiting_frontend_ssl = false;
                if !matches!(negotiation, SslNegotiationMetaMessage::None) {
                    // The server answers 'N' (or starts TLS) and the client sends its startup.
                    ctx.awaiting_frontend_startup = true;
                }
            }
            PgWireFrontendMessage::Startup(_) | PgWireFrontendMessage::CancelRequest(_) => {
                ctx.awaiting_frontend_startup = false;
            }
            PgWireFrontendMessage::PasswordMessageFamily(family) => {
                let _ = family.into_password();
            }
            _ => {}
        }
        // A message that consumed nothing and changed no state would be decoded again and
        // again: the connection's read loop would spin.
        let moved = buf.len() != before
            || state != (ctx.awaiting_frontend_ssl, ctx.awaiting_frontend_startup);
        assert!(moved, "the decoder returned a message without consuming a byte");
    }
}
