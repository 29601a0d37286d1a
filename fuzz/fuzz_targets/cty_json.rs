#![no_main]
//! `hwrds::cty::json::decode` (and `decode_type`) on arbitrary bytes never panic, and
//! what they decode encodes again.

use libfuzzer_sys::fuzz_target;

#[path = "types.rs"]
mod types;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let ty = types::pick(selector);
    if let Ok(value) = hwrds::cty::json::decode(bytes, &ty) {
        let _ = hwrds::cty::json::encode(&value, &ty);
    }
    if let Ok(decoded) = hwrds::cty::json::decode_type(bytes) {
        let _ = hwrds::cty::json::encode_type(&decoded);
    }
});
