#![no_main]
//! `hwrds::cty::msgpack::decode` on arbitrary bytes never panics, and what it decodes
//! encodes again.

use libfuzzer_sys::fuzz_target;

#[path = "types.rs"]
mod types;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let ty = types::pick(selector);
    if let Ok(value) = hwrds::cty::msgpack::decode(bytes, &ty) {
        let _ = hwrds::cty::msgpack::encode(&value, &ty);
    }
});
