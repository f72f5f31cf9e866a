//! Round-trip checks shared by the cargo-fuzz targets and the property tests: whatever parses
//! must format, and the formatted text must parse back to the same value.

use crate::header::accept_payment::{format_accept_payment, parse_accept_payment};
use crate::header::authorization::{format_authorization, parse_authorization};
use crate::header::payment_receipt::{format_payment_receipt, parse_payment_receipt};
use crate::header::www_authenticate::{
    format_www_authenticate, parse_challenge, parse_www_authenticate,
};

/// `WWW-Authenticate`: parse, then format → parse each challenge found.
pub fn challenge(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenges) = parse_www_authenticate(text) else {
        return;
    };
    for c in challenges {
        let formatted = match format_www_authenticate(&c) {
            Ok(f) => f,
            Err(e) => panic!("parsed challenge does not format: {e}"),
        };
        match parse_challenge(&formatted) {
            Ok(again) => assert_eq!(again, c, "format→parse changed the challenge"),
            Err(e) => panic!("formatted challenge does not parse: {e}: {formatted}"),
        }
    }
}

/// `Authorization`: parse, then format → parse.
pub fn credential(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = parse_authorization(text) else {
        return;
    };
    match parse_authorization(&format_authorization(&c)) {
        Ok(again) => assert_eq!(again, c, "format→parse changed the credential"),
        Err(e) => panic!("formatted credential does not parse: {e}"),
    }
}

/// `Payment-Receipt`: parse, then format → parse.
pub fn receipt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = parse_payment_receipt(text) else {
        return;
    };
    match parse_payment_receipt(&format_payment_receipt(&r)) {
        Ok(again) => assert_eq!(again, r, "format→parse changed the receipt"),
        Err(e) => panic!("formatted receipt does not parse: {e}"),
    }
}

/// `Accept-Payment`: parse, then format → parse.
pub fn accept_payment(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ranges) = parse_accept_payment(text) else {
        return;
    };
    match parse_accept_payment(&format_accept_payment(&ranges)) {
        Ok(again) => assert_eq!(again, ranges, "format→parse changed the ranges"),
        Err(e) => panic!("formatted ranges do not parse: {e}"),
    }
}
