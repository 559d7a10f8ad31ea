//! `walletops wallet address`, run as the real binary: published key/address
//! vectors, and every kind of bad input refused with one line and a non-zero
//! exit, without echoing the key.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};

fn wallet_address(stdin: &[u8]) -> Output {
    let mut child = common::walletops()
        .args(["wallet", "address"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run walletops");
    // The process may exit before reading everything (oversized input).
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// Sources: trustwallet/wallet-core `tests/chains/Tron/AddressTests.cpp`
/// (first two); trezor-firmware `test_privkey_to_address` (third);
/// trustwallet/trust-core `Tests/Tron/TronAddressTests.swift` (fourth).
const VECTORS: &[(&str, &str)] = &[
    (
        "BE88DF1D0BF30A923CB39C3BB953178BAAF3726E8D3CE81E7C8462E046E0D835",
        "THRF3GuPnvvPzKoaT8pJex5XHmo8NNbCb3",
    ),
    (
        "2d8f68944bdbfbc0769542fba8fc2d2a3de67393334471624364c7006da2aa54",
        "TJRyWwFs9wTFGZg3JbrVriFbNfCug5tDeC",
    ),
    (
        "8d596057e510b14cbb9bf24f88803a6d6dbd138dd303a62b175b9e6cc0f3f941",
        "TY72iA3SBtrds3QLYsS7LwYfkzXwAXCRWT",
    ),
    (
        "3d2eebd74075e98a55190b062ddd552c5f43f4b8379a1a1bcc8847a1c379a5e3",
        "THyw5GEQrRFjBxjpiQrSkthzkN92BZY2sJ",
    ),
];

#[test]
fn prints_the_address_of_each_published_key_in_either_case_with_whitespace() {
    for (key, address) in VECTORS {
        for input in [
            key.to_string(),
            format!("{}\n", key.to_lowercase()),
            format!("  \t{}  \r\n\n", key.to_uppercase()),
        ] {
            let out = wallet_address(input.as_bytes());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8(out.stdout).unwrap(),
                format!("{address}\n")
            );
            assert!(out.stderr.is_empty());
        }
    }
}

#[test]
fn refuses_anything_but_one_key_with_one_line_and_never_echoes_it() {
    let key = VECTORS[0].0;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "no private key"),
        (b"  \n".to_vec(), "no private key"),
        (key.as_bytes()[..63].to_vec(), "64 hex digits"),
        (format!("{key}00").into_bytes(), "64 hex digits"),
        (format!("0x{key}").into_bytes(), "64 hex digits"),
        (format!("{key}\n{key}\n").into_bytes(), "64 hex digits"),
        (format!("{}zz", &key[..62]).into_bytes(), "not hex digits"),
        ("0".repeat(64).into_bytes(), "out of range"),
        (
            b"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141".to_vec(),
            "out of range",
        ),
        (vec![0xff, 0xfe, 0x00], "not text"),
        (vec![b'a'; 100_000], "more than"),
    ];
    for (input, expected) in cases {
        let out = wallet_address(&input);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            !out.status.success(),
            "accepted {:?}",
            String::from_utf8_lossy(&input)
        );
        assert!(out.stdout.is_empty());
        assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr:?}");
        assert!(!stderr.contains(&key[..16]), "the key leaked: {stderr}");
    }
}
