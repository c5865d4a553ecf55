//! The preflight walk against kafka-protocol's decoders, for every API and version the broker
//! accepts: the walk must accept what the crate decodes and stop at the same byte.

mod common;

use bytes::{Buf, Bytes, BytesMut};
use common::{accepted, sample};
use gregor_protocol::messages::RequestKind;
use gregor_protocol::preflight::{check_body, has_shape};

#[test]
fn every_accepted_api_has_a_shape() {
    for (api, _) in accepted() {
        assert!(has_shape(api), "{api:?}");
    }
}

#[test]
fn preflight_matches_the_decoder() {
    for (api, version) in accepted() {
        for request in [
            sample(api, version),
            RequestKind::decode(api, &mut Bytes::from_static(&[0; 64]), version)
                .unwrap_or_else(|_| sample(api, version)),
        ] {
            let mut buf = BytesMut::new();
            request
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
            buf.extend_from_slice(b"trailing");
            let body = buf.freeze();
            let walked = check_body(api, version, &body)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
            let mut rest = body.clone();
            RequestKind::decode(api, &mut rest, version)
                .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
            assert_eq!(walked, body.len() - rest.remaining(), "{api:?} v{version}");
            // Cut anywhere inside the body: the walk never accepts what the decoder refuses
            // for want of bytes, and never panics.
            for cut in 0..walked {
                if check_body(api, version, &body[..cut]).is_ok() {
                    let mut part = body.slice(..cut);
                    assert!(
                        RequestKind::decode(api, &mut part, version).is_ok(),
                        "{api:?} v{version} cut at {cut}"
                    );
                }
            }
        }
    }
}
