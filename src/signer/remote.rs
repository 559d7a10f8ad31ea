//! The worker's side of `walletops signer`: signed HTTP requests, the
//! policy fetched once at start (so jobs pick destinations the signer will
//! accept), and every signature checked before it is used.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::auth::{self, NONCE_HEADER, SIGNATURE_HEADER, SharedSecret, TIMESTAMP_HEADER};
use super::{SignError, SignRequest};
use crate::policy::{Policy, Refusal};
use crate::tron::SignedTransaction;

/// The signer's answer to a signing request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignResponse {
    /// The signed transaction's bytes, hex.
    Signed(String),
    Refused(Refusal),
    /// Anything else that went wrong (not authenticated, malformed request).
    Error(String),
}

/// `walletops signer` as a worker sees it.
pub struct RemoteSigner {
    channel: Channel,
    policy: Policy,
}

/// Where the signer is and how to authenticate to it.
struct Channel {
    http: reqwest::Client,
    base: Url,
    /// The URL as given (`base` stands in for a Unix socket's).
    shown: String,
    secret: SharedSecret,
}

impl RemoteSigner {
    /// Connects to the signer at `base` and reads its policy.
    pub async fn connect(base: Url, secret: SharedSecret) -> Result<Self, SignError> {
        crate::tron::client::install_crypto_provider();
        let shown = base.to_string();
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(15));
        // `unix:/PATH`: HTTP over that socket; the host name is not used.
        let base = if base.scheme() == "unix" {
            builder = builder.unix_socket(std::path::PathBuf::from(base.path()));
            Url::parse("http://walletops-signer/").expect("a valid URL")
        } else {
            base
        };
        let http = builder
            .build()
            .map_err(|e| SignError::Unavailable(e.to_string()))?;
        let channel = Channel {
            http,
            base,
            shown,
            secret,
        };
        let text = channel.call("GET", "/v1/policy", Vec::new()).await?;
        let policy = Policy::parse(&text).map_err(|e| {
            SignError::Unavailable(format!("the signer's policy does not parse: {e}"))
        })?;
        Ok(Self { channel, policy })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Asks for a signature; the answer is checked to be a signature by the
    /// sender over exactly the transaction sent.
    pub async fn sign(&self, req: &SignRequest) -> Result<SignedTransaction, SignError> {
        let body = serde_json::to_vec(req).map_err(|e| SignError::Unavailable(e.to_string()))?;
        let text = self.channel.call("POST", "/v1/sign", body).await?;
        let answer: SignResponse = serde_json::from_str(&text).map_err(|e| {
            SignError::Unavailable(format!("unreadable answer from the signer: {e}"))
        })?;
        let hex_tx = match answer {
            SignResponse::Signed(hex_tx) => hex_tx,
            SignResponse::Refused(refusal) => return Err(SignError::Refused(refusal)),
            SignResponse::Error(e) => return Err(SignError::Unavailable(e)),
        };
        let signed = hex::decode(&hex_tx)
            .ok()
            .and_then(|b| SignedTransaction::decode(&b).ok())
            .ok_or_else(|| {
                SignError::Unavailable("the signer sent an undecodable transaction".into())
            })?;
        if signed.raw_bytes() != req.raw.as_slice() || signed.verify_owner().is_err() {
            return Err(SignError::Unavailable(
                "the signer's transaction is not the one sent, or not signed by its sender".into(),
            ));
        }
        Ok(signed)
    }
}

impl Channel {
    /// One authenticated request; its body as text. Refusals come back as
    /// 403 with a [`SignResponse`] body, which is returned as text too.
    async fn call(&self, method: &str, path: &str, body: Vec<u8>) -> Result<String, SignError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| SignError::Unavailable(e.to_string()))?;
        let ts = chrono::Utc::now().timestamp_millis();
        let nonce = auth::nonce();
        let sig = self.secret.sign(ts, &nonce, method, path, &body);
        let builder = match method {
            "GET" => self.http.get(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body),
        };
        let resp = builder
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(NONCE_HEADER, nonce)
            .header(SIGNATURE_HEADER, sig)
            .send()
            .await
            .map_err(|e| {
                SignError::Unavailable(format!("cannot reach the signer at {}: {e}", self.shown))
            })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| SignError::Unavailable(format!("the signer's answer broke off: {e}")))?;
        if status.is_success() || status == reqwest::StatusCode::FORBIDDEN {
            return Ok(text);
        }
        Err(SignError::Unavailable(format!(
            "the signer answered {status}: {text}"
        )))
    }
}
