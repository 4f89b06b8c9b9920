//! The signed receipts behind a result, as the results hand them out: everything needed to
//! check, without the relay, that a key signed this answer under this campaign's licence and
//! terms (the EIP-712 domain and message, the answer's text whose keccak256 is `answerHash`,
//! the signature and the signer it recovers to). Docs: docs/relay.md §4e.

use std::collections::HashMap;

use serde_json::{Value as Json_, json};

use crate::db::{DbError, Row};

/// The submission columns [`Receipt::from_row`] reads, in its order (table alias `s`).
pub const RECEIPT_COLUMNS: &str = "s.id, s.lease, s.signer, s.nonce, s.answer, s.manifest, s.signature, s.chain_id, s.deadline, s.licence, s.terms_hash, s.worker";

/// The EIP-712 domain of each configured chain, as JSON (`chainId` → domain).
pub type Domains = HashMap<i64, Json_>;

/// The domains of `chains` under which receipts are signed (see `tasks::receipt_domain`).
pub fn domains(chains: &[crate::config::ChainConfig]) -> Domains {
    chains
        .iter()
        .filter_map(|c| {
            let id = i64::try_from(c.id).ok()?;
            Some((
                id,
                json!({
                    "name": "DataHub",
                    "version": "1",
                    "chainId": c.id,
                    "verifyingContract": c.claim_contract,
                }),
            ))
        })
        .collect()
}

/// One accepted submission's receipt.
pub struct Receipt {
    /// The contributor's wallet (the results name it; exports replace it by a pseudonym).
    pub worker: String,
    /// The receipt as JSON, `null` for a submission stored before receipts were kept whole.
    pub json: Json_,
}

impl Receipt {
    /// Reads [`RECEIPT_COLUMNS`] from `row` at `at`: a receipt of `campaign`.
    pub fn from_row(
        row: &Row,
        at: usize,
        campaign: &str,
        domains: &Domains,
    ) -> Result<Self, DbError> {
        let worker = row.text(at + 11)?;
        let (chain, deadline) = (row.opt_int(at + 7)?, row.opt_int(at + 8)?);
        let (Some(chain), Some(deadline)) = (chain, deadline) else {
            return Ok(Self {
                worker,
                json: Json_::Null,
            });
        };
        let zeros = "0".repeat(64);
        let manifest = row.text(at + 5)?;
        let terms = row.opt_text(at + 10)?.unwrap_or_else(|| zeros.clone());
        let answer = row.text(at + 4)?;
        let json = json!({
            "submission": row.text(at)?,
            "signer": row.text(at + 2)?,
            "signature": row.text(at + 6)?,
            "answer": answer,
            "primaryType": "SubmissionReceipt",
            "domain": domains.get(&chain).cloned().unwrap_or(Json_::Null),
            "message": {
                "campaign": campaign,
                "task": row.text(at + 1)?,
                "answerHash": format!("0x{}", hex::encode(datahub_core::eth::keccak256(answer.as_bytes()))),
                "manifestId": format!("0x{}", if manifest.is_empty() { zeros } else { manifest }),
                "nonce": row.text(at + 3)?,
                "deadline": deadline.to_string(),
                "licence": row.opt_text(at + 9)?.unwrap_or_default(),
                "termsHash": format!("0x{terms}"),
            },
        });
        Ok(Self { worker, json })
    }
}
