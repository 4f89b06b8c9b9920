use std::collections::BTreeMap;

use datahub_core::eth::{
    Address, ChainId, Eip712Domain, RewardVoucher, Signature, SubmissionReceipt, TypedData,
    TypedDataError, TypedStruct, U256,
    typed_data::{Field, Value},
};

use crate::{hex32, key_for, vectors};

const V: &str = include_str!("../../../../test-vectors/eth-typed-data.json");

fn value(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Integer(i128::from(n.as_i64().unwrap())),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(value).collect()),
        serde_json::Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), value(v))).collect())
        }
        serde_json::Value::Null => panic!("null in typed data"),
    }
}

/// The vector as `eth_signTypedData_v4` JSON would give it (ethers leaves `EIP712Domain` out of
/// `types`; it is inferred from the domain's members, in the EIP's order).
fn typed(case: &serde_json::Value) -> TypedData {
    let mut types: BTreeMap<String, Vec<Field>> = case["types"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, fields)| {
            let fields = fields
                .as_array()
                .unwrap()
                .iter()
                .map(|f| Field::new(f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
                .collect();
            (name.clone(), fields)
        })
        .collect();
    let domain = case["domain"].as_object().unwrap();
    let domain_fields = [
        ("name", "string"),
        ("version", "string"),
        ("chainId", "uint256"),
        ("verifyingContract", "address"),
        ("salt", "bytes32"),
    ]
    .iter()
    .filter(|(n, _)| domain.contains_key(*n))
    .map(|(n, t)| Field::new(n, t))
    .collect();
    types.insert("EIP712Domain".into(), domain_fields);
    TypedData {
        types,
        primary_type: case["primaryType"].as_str().unwrap().into(),
        domain: value(&case["domain"]),
        message: value(&case["message"]),
    }
}

both! {
    fn eip712_mail_example_reproduces_exactly() {
        // The numbers printed in the EIP-712 text itself.
        let v = vectors(V);
        let case = &v["vectors"][0];
        assert_eq!(case["name"], "eip712_mail");
        let data = typed(case);
        assert_eq!(
            data.encode_type("Mail").unwrap(),
            "Mail(Person from,Person to,string contents)Person(string name,address wallet)"
        );
        assert_eq!(
            hex::encode(data.type_hash("Mail").unwrap()),
            "a0cedeb2dc280ba39b857546d74f5549c3a1d7bdc2dd96bf881f76108e23dac2"
        );
        assert_eq!(
            hex::encode(data.hash_struct("Mail", &data.message).unwrap()),
            "c52c0ee5d84264471806290a3f2c4cecfc5490626bf912d01f240d7a274b371e"
        );
        assert_eq!(
            hex::encode(data.domain_separator().unwrap()),
            "f2cee375fa42b42143804025fc449deafd50cc031ca257e0b194a650a912090f"
        );
        assert_eq!(
            hex::encode(data.signing_hash().unwrap()),
            "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
        );
        let sig = data.sign(&key_for("cow")).unwrap();
        assert_eq!(sig.v(), 28);
        assert_eq!(hex::encode(sig.r()), "4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d");
        assert_eq!(hex::encode(sig.s()), "07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b91562");
        assert_eq!(data.recover(&sig).unwrap().to_checksum(), "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826");
    }
}

both! {
    fn all_vectors_match_ethers() {
        let v = vectors(V);
        for case in v["vectors"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let data = typed(case);
            let primary = case["primaryType"].as_str().unwrap();
            assert_eq!(data.encode_type(primary).unwrap(), case["encode_type"].as_str().unwrap(), "{name}");
            assert_eq!(data.domain_separator().unwrap(), hex32(case["domain_separator"].as_str().unwrap()), "{name}");
            assert_eq!(data.hash_struct(primary, &data.message).unwrap(), hex32(case["struct_hash"].as_str().unwrap()), "{name}");
            assert_eq!(data.signing_hash().unwrap(), hex32(case["digest"].as_str().unwrap()), "{name}");
            let sig = data.sign(&key_for(case["signer"].as_str().unwrap())).unwrap();
            assert_eq!(sig.to_hex(), case["signature"].as_str().unwrap(), "{name}");
            let theirs = Signature::from_hex(case["signature"].as_str().unwrap()).unwrap();
            assert_eq!(data.recover(&theirs).unwrap().to_checksum(), case["address"].as_str().unwrap());
        }
    }
}

fn domain(case: &serde_json::Value) -> Eip712Domain {
    let d = &case["domain"];
    Eip712Domain {
        name: d["name"].as_str().unwrap().into(),
        version: d["version"].as_str().unwrap().into(),
        chain_id: ChainId(d["chainId"].as_u64().unwrap()),
        verifying_contract: d["verifyingContract"].as_str().unwrap().parse().unwrap(),
    }
}

both! {
    fn datahub_types_match_ethers_and_the_generic_encoder() {
        let v = vectors(V);
        for case in v["vectors"].as_array().unwrap() {
            let m = &case["message"];
            let d = domain(case);
            let digest = hex32(case["digest"].as_str().unwrap());
            let (struct_hash, signing_hash, generic) = match case["primaryType"].as_str().unwrap() {
                "SubmissionReceipt" => {
                    let r = SubmissionReceipt {
                        campaign: m["campaign"].as_str().unwrap().into(),
                        task: m["task"].as_str().unwrap().into(),
                        answer_hash: hex32(m["answerHash"].as_str().unwrap()),
                        manifest_id: hex32(m["manifestId"].as_str().unwrap()),
                        nonce: U256::parse(m["nonce"].as_str().unwrap()).unwrap(),
                        deadline: m["deadline"].as_str().unwrap().parse().unwrap(),
                        licence: m["licence"].as_str().unwrap().into(),
                        terms_hash: hex32(m["termsHash"].as_str().unwrap()),
                    };
                    let sig = r.sign(&key_for(case["signer"].as_str().unwrap()), &d);
                    assert_eq!(sig.to_hex(), case["signature"].as_str().unwrap());
                    assert_eq!(r.recover(&d, &sig).unwrap().to_checksum(), case["address"].as_str().unwrap());
                    (r.struct_hash(), r.signing_hash(&d), r.to_typed_data(&d))
                }
                "RewardVoucher" => {
                    let r = RewardVoucher {
                        recipient: m["recipient"].as_str().unwrap().parse().unwrap(),
                        token: m["token"].as_str().unwrap().parse().unwrap(),
                        amount: U256::parse(m["amount"].as_str().unwrap()).unwrap(),
                        nonce: U256::parse(m["nonce"].as_str().unwrap()).unwrap(),
                        deadline: m["deadline"].as_str().unwrap().parse().unwrap(),
                    };
                    let sig = r.sign(&key_for(case["signer"].as_str().unwrap()), &d);
                    assert_eq!(sig.to_hex(), case["signature"].as_str().unwrap());
                    (r.struct_hash(), r.signing_hash(&d), r.to_typed_data(&d))
                }
                _ => continue,
            };
            assert_eq!(d.separator(), hex32(case["domain_separator"].as_str().unwrap()));
            assert_eq!(struct_hash, hex32(case["struct_hash"].as_str().unwrap()));
            assert_eq!(signing_hash, digest);
            assert_eq!(generic.signing_hash().unwrap(), digest);
        }
    }
}

both! {
    fn type_strings_are_the_documented_ones() {
        let generic = SubmissionReceipt {
            campaign: String::new(), task: String::new(), answer_hash: [0; 32], manifest_id: [0; 32],
            nonce: U256::ZERO, deadline: 0, licence: String::new(), terms_hash: [0; 32],
        }
        .to_typed_data(&Eip712Domain { name: "DataHub".into(), version: "1".into(), chain_id: ChainId(1), verifying_contract: Address::ZERO });
        assert_eq!(generic.encode_type("SubmissionReceipt").unwrap(), SubmissionReceipt::TYPE);
        assert_eq!(generic.encode_type("EIP712Domain").unwrap(), Eip712Domain::TYPE);
        assert_eq!(
            SubmissionReceipt::TYPE,
            "SubmissionReceipt(string campaign,string task,bytes32 answerHash,bytes32 manifestId,uint256 nonce,uint256 deadline,string licence,bytes32 termsHash)"
        );
        assert_eq!(
            RewardVoucher::TYPE,
            "RewardVoucher(address recipient,address token,uint256 amount,uint256 nonce,uint256 deadline)"
        );
    }
}

fn one_field(ty: &str, v: Value) -> Result<[u8; 32], TypedDataError> {
    let data = TypedData {
        types: BTreeMap::from([
            ("EIP712Domain".into(), vec![]),
            ("T".into(), vec![Field::new("x", ty)]),
        ]),
        primary_type: "T".into(),
        domain: Value::Object(BTreeMap::new()),
        message: Value::Object(BTreeMap::from([("x".into(), v)])),
    };
    data.signing_hash()
}

both! {
    fn values_must_fit_their_types() {
        let s = |t: &str| Value::String(t.into());
        assert!(one_field("uint8", s("255")).is_ok());
        assert!(one_field("uint8", s("256")).is_err());
        assert!(one_field("uint8", Value::Integer(-1)).is_err());
        assert!(one_field("int8", Value::Integer(-128)).is_ok());
        assert!(one_field("int8", Value::Integer(127)).is_ok());
        assert!(one_field("int8", Value::Integer(128)).is_err());
        assert!(one_field("int8", Value::Integer(-129)).is_err());
        assert!(one_field("int256", s("-0x8000000000000000000000000000000000000000000000000000000000000000")).is_ok());
        assert!(one_field("uint256", s("0x10000000000000000000000000000000000000000000000000000000000000000")).is_err());
        assert!(one_field("bytes4", s("0x01020304")).is_ok());
        assert!(one_field("bytes4", s("0x010203")).is_err());
        assert!(one_field("bytes", s("0x")).is_ok());
        assert!(one_field("bytes", s("zz")).is_err());
        assert!(one_field("address", s("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")).is_ok());
        assert!(one_field("address", s("0x5aaeb6053F3E94C9b9A09f33669435E7Ef1BeAed")).is_err());
        assert!(one_field("bool", Value::Integer(1)).is_err());
        assert!(one_field("uint7", Value::Integer(1)).is_err());
        assert!(one_field("bytes33", s("0x")).is_err());
        assert!(one_field("Missing", Value::Object(BTreeMap::new())).is_err());
        assert!(one_field("uint8[2]", Value::Array(vec![Value::Integer(1)])).is_err());
        assert!(one_field("uint8[2]", Value::Array(vec![Value::Integer(1), Value::Integer(2)])).is_ok());
        assert!(one_field("uint8[][]", Value::Array(vec![Value::Array(vec![])])).is_ok());
        // A missing member is refused.
        let data = TypedData {
            types: BTreeMap::from([("EIP712Domain".into(), vec![]), ("T".into(), vec![Field::new("x", "int8")])]),
            primary_type: "T".into(),
            domain: Value::Object(BTreeMap::new()),
            message: Value::Object(BTreeMap::new()),
        };
        assert!(matches!(data.signing_hash(), Err(TypedDataError::MissingField { .. })));
    }
}

both! {
    fn extra_members_and_recursive_types_are_handled() {
        let mut types = BTreeMap::new();
        types.insert("EIP712Domain".to_owned(), vec![]);
        types.insert("Node".to_owned(), vec![Field::new("children", "Node[]"), Field::new("v", "uint8")]);
        let leaf = Value::Object(BTreeMap::from([("children".into(), Value::Array(vec![])), ("v".into(), Value::Integer(1))]));
        let tree = Value::Object(BTreeMap::from([("children".into(), Value::Array(vec![leaf.clone(), leaf])), ("v".into(), Value::Integer(2))]));
        let data = TypedData { types: types.clone(), primary_type: "Node".into(), domain: Value::Object(BTreeMap::new()), message: tree };
        assert_eq!(data.encode_type("Node").unwrap(), "Node(Node[] children,uint8 v)");
        assert!(data.signing_hash().is_ok());
        let extra = Value::Object(BTreeMap::from([
            ("children".into(), Value::Array(vec![])), ("v".into(), Value::Integer(1)), ("w".into(), Value::Integer(1)),
        ]));
        let data = TypedData { types, primary_type: "Node".into(), domain: Value::Object(BTreeMap::new()), message: extra };
        assert!(matches!(data.signing_hash(), Err(TypedDataError::UnexpectedField { .. })));
        // A deep value is refused, not a stack overflow.
        let mut deep = Value::Object(BTreeMap::from([("children".into(), Value::Array(vec![])), ("v".into(), Value::Integer(1))]));
        for _ in 0..200 {
            deep = Value::Object(BTreeMap::from([("children".into(), Value::Array(vec![deep])), ("v".into(), Value::Integer(1))]));
        }
        let mut types = BTreeMap::new();
        types.insert("EIP712Domain".to_owned(), vec![]);
        types.insert("Node".to_owned(), vec![Field::new("children", "Node[]"), Field::new("v", "uint8")]);
        let data = TypedData { types, primary_type: "Node".into(), domain: Value::Object(BTreeMap::new()), message: deep };
        assert_eq!(data.signing_hash(), Err(TypedDataError::TooDeep));
    }
}
