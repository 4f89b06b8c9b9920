//! Signing and recovery throughput: EIP-191 sign / recover, EIP-712 receipt sign / recover,
//! address checksum and SIWE parse. Run with `cargo bench -p datahub-core --bench identity`;
//! the wasm figures come from `node tests/bench/identity.mjs`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datahub_core::{
    SecretKey,
    eth::{
        ChainId, Eip712Domain, SiweMessage, SubmissionReceipt, Timestamp, TypedStruct, U256,
        personal,
    },
};

fn bench(c: &mut Criterion) {
    let key = SecretKey::derive(&[42; 32]);
    let message = b"DataHub benchmark message: sign and recover";
    let sig = personal::sign_message(&key, message);
    let domain = Eip712Domain {
        name: "DataHub".into(),
        version: "1".into(),
        chain_id: ChainId(56),
        verifying_contract: key.address(),
    };
    let receipt = SubmissionReceipt {
        campaign: "cats-2026".into(),
        task: "task-000017".into(),
        answer_hash: [1; 32],
        manifest_id: [2; 32],
        nonce: U256::from_u64(17),
        deadline: 1_800_000_000,
        licence: String::new(),
        terms_hash: [0; 32],
    };
    let receipt_sig = receipt.sign(&key, &domain);
    let siwe = SiweMessage {
        scheme: None,
        domain: "datahub.example".into(),
        address: key.address(),
        statement: Some("Sign in to DataHub.".into()),
        uri: "https://datahub.example/".into(),
        chain_id: ChainId(56),
        nonce: "k3Xr9bQ2mZ".into(),
        issued_at: Timestamp::from_unix_seconds(1_795_000_000),
        expiration_time: Some(Timestamp::from_unix_seconds(1_795_021_600)),
        not_before: None,
        request_id: None,
        resources: vec!["urn:datahub:session:campaign:cats-2026".into()],
    }
    .to_string();

    let mut g = c.benchmark_group("identity");
    g.throughput(Throughput::Elements(1));
    g.bench_function("personal_sign", |b| {
        b.iter(|| personal::sign_message(&key, black_box(message)));
    });
    g.bench_function("personal_recover", |b| {
        b.iter(|| personal::recover_message(black_box(message), black_box(&sig)).unwrap());
    });
    g.bench_function("eip712_receipt_sign", |b| {
        b.iter(|| black_box(&receipt).sign(&key, &domain));
    });
    g.bench_function("eip712_receipt_recover", |b| {
        b.iter(|| black_box(&receipt).recover(&domain, &receipt_sig).unwrap());
    });
    g.bench_function("address_checksum", |b| {
        let address = key.address();
        b.iter(|| black_box(&address).to_checksum());
    });
    g.bench_function("siwe_parse", |b| {
        b.iter(|| SiweMessage::parse(black_box(&siwe)).unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
