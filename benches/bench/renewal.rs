//! Section 9, credential renewal: what renewal costs on the hot path and how many IAM
//! requests an hour of apply makes. Eight tasks ask the client's credential holder for
//! the credential to sign with, without pause, for six lifetimes of 2 s credentials from
//! an agency of the emulator's IAM, while the holder renews them in the background; the
//! same against static keys; and the time of one IAM request, for scale. A request that
//! waited for a renewal would take about one IAM request. The IAM requests per hour
//! follow from the renewal rule (a third of the lifetime left, at most ten minutes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hwrds::rds::credentials::renewal::renew_at;
use hwrds::rds::credentials::{Agency, AgencyAccount, Credentials, Secret, Source};
use hwrds::rds::{CallCtx, ClientConfig, RdsClient};
use tokio_util::sync::CancellationToken;

use crate::stats::{error_block, header, median};
use crate::terraform::{Emulator, Tools};

/// The emulator's credential lifetime, and how many lifetimes the measurement lasts.
const LIFETIME: f64 = 2.0;
const LIFETIMES: f64 = 6.0;
const TASKS: usize = 8;
const SECURITY_TOKENS: &str = "POST /v3.0/OS-CREDENTIAL/securitytokens";

struct Measured {
    static_calls: Vec<f64>,
    renewing_calls: Vec<f64>,
    expired_handed_out: u64,
    iam_round_trips: Vec<f64>,
    obtained: u64,
    iam_requests: u64,
    seconds: f64,
}

pub fn section(tools: &Tools) -> String {
    let mut out = String::from("## 9. Credential renewal\n\n");
    out.push_str(&format!(
        "{TASKS} tasks ask the client's credential holder for the credential to sign with, without pause, for {LIFETIMES} lifetimes of {LIFETIME} s credentials of an agency (the emulator's IAM, `temporary_credential_seconds = {LIFETIME}`), while the holder renews them in the background when a third of the lifetime is left; then the same against static keys. One IAM request (a fresh holder's first credential) gives the scale of a wait: a call that waited for a renewal takes about that long.\n\n"
    ));
    match measure(tools) {
        Ok(m) => out.push_str(&render(&m)),
        Err(e) => out.push_str(&error_block("renewal", &e)),
    }
    out.push_str(&per_hour());
    out
}

fn render(m: &Measured) -> String {
    let pct = |values: &[f64], p: f64| -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            return f64::NAN;
        }
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    };
    let micros = |s: f64| format!("{:.1} µs", s * 1e6);
    let row = |label: &str, v: &[f64]| {
        format!(
            "| {label} | {} | {} | {} | {} | {} |\n",
            v.len(),
            micros(pct(v, 0.5)),
            micros(pct(v, 0.99)),
            micros(pct(v, 0.999)),
            micros(pct(v, 1.0)),
        )
    };
    let round_trip = median(&m.iam_round_trips).unwrap_or(f64::NAN);
    let waited = m
        .renewing_calls
        .iter()
        .filter(|&&s| s >= round_trip / 2.0)
        .count();
    let lifetimes = m.seconds / LIFETIME;
    format!(
        "{}\n{}{}\n| measurement | value |\n| --- | --- |\n\
         | one IAM request (median of {}) | {} |\n\
         | calls that took half an IAM request or more | {waited} of {} |\n\
         | credentials handed out already expired | {} |\n\
         | credentials obtained over {lifetimes:.1} lifetimes | {} |\n\
         | IAM requests per lifetime | {:.2} |\n\n",
        header(&["source", "calls", "p50", "p99", "p99.9", "max"]),
        row("agency, renewing", &m.renewing_calls),
        row("static keys", &m.static_calls),
        m.iam_round_trips.len(),
        micros(round_trip),
        m.renewing_calls.len(),
        m.expired_handed_out,
        m.obtained,
        m.iam_requests as f64 / lifetimes,
    )
}

/// IAM requests per hour of apply for real lifetimes, from the renewal rule.
fn per_hour() -> String {
    let mut out = String::from(
        "IAM requests per hour of apply, from the renewal rule (renewed when a third of the lifetime, at most 10 minutes, is left; an agency is one request per renewal, OIDC two — id token to IAM token, IAM token to keys — and three when an agency follows; metadata keys live an hour):\n\n",
    );
    out.push_str(&header(&[
        "lifetime",
        "renewals per hour",
        "agency",
        "OIDC",
        "OIDC then agency",
        "metadata",
    ]));
    out.push('\n');
    for lifetime in [900u64, 3600, 43_200] {
        let at = SystemTime::UNIX_EPOCH;
        let expires = at + Duration::from_secs(lifetime);
        let every = renew_at(at, expires)
            .duration_since(at)
            .unwrap_or_default()
            .as_secs_f64();
        let per_hour = 3600.0 / every;
        let metadata = if lifetime == 3600 {
            format!("{per_hour:.2}")
        } else {
            "–".into()
        };
        out.push_str(&format!(
            "| {lifetime} s | {per_hour:.2} | {per_hour:.2} | {:.2} | {:.2} | {metadata} |\n",
            2.0 * per_hour,
            3.0 * per_hour
        ));
    }
    out
}

fn measure(tools: &Tools) -> Result<Measured, String> {
    let emulator = Emulator::start_config(
        tools,
        serde_json::json!({
            "instances": [],
            "flow_control": {"enabled": false},
            "agencies": [{"domain_name": "ops", "domain_id": "d0d0", "agency_name": "rds-upgrader"}],
            "temporary_credential_seconds": LIFETIME,
        }),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let url = emulator.url.clone();
        let mut iam_round_trips = Vec::new();
        for _ in 0..10 {
            let fresh = client(&url, agency())?;
            let started = Instant::now();
            fresh
                .credentials()
                .current(&ctx())
                .await
                .map_err(|e| e.to_string())?;
            iam_round_trips.push(started.elapsed().as_secs_f64());
        }
        let before = iam_requests(&emulator)?;
        let renewing = client(&url, agency())?;
        renewing
            .credentials()
            .current(&ctx())
            .await
            .map_err(|e| e.to_string())?;
        let seconds = LIFETIME * LIFETIMES;
        let (renewing_calls, expired_handed_out) = hammer(&renewing, seconds).await?;
        let iam_requests = iam_requests(&emulator)? - before;
        let obtained = renewing.credentials().obtained();
        let (static_calls, _) = hammer(&client(&url, keys())?, 3.0).await?;
        Ok(Measured {
            static_calls,
            renewing_calls,
            expired_handed_out,
            iam_round_trips,
            obtained,
            iam_requests,
            seconds,
        })
    })
}

/// Every task asks for the credential for `seconds`: each call's time, and how many
/// calls got a credential that had expired.
async fn hammer(client: &RdsClient, seconds: f64) -> Result<(Vec<f64>, u64), String> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let expired = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (client, expired) = (client.clone(), expired.clone());
            tokio::spawn(async move {
                let mut times = Vec::new();
                let ctx = ctx();
                while Instant::now() < until {
                    let started = Instant::now();
                    let current = client
                        .credentials()
                        .current(&ctx)
                        .await
                        .map_err(|e| e.to_string())?;
                    times.push(started.elapsed().as_secs_f64());
                    if current.expires.is_some_and(|e| e <= SystemTime::now()) {
                        expired.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                Ok::<_, String>(times)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok((all, expired.load(Ordering::Relaxed)))
}

fn iam_requests(emulator: &Emulator) -> Result<u64, String> {
    Ok(emulator.stats()?["requests"][SECURITY_TOKENS]
        .as_u64()
        .unwrap_or(0))
}

fn ctx() -> CallCtx {
    CallCtx::new(CancellationToken::new())
}

fn keys() -> Source {
    Source::Static(Credentials {
        access_key: "EMULATORAK".into(),
        secret_key: Secret::new("EMULATORSK"),
        security_token: None,
    })
}

fn agency() -> Source {
    Source::Agency {
        base: Box::new(keys()),
        agency: Agency {
            name: "rds-upgrader".into(),
            account: AgencyAccount::Name("ops".into()),
            duration: 900,
            session_name: None,
        },
    }
}

fn client(url: &str, source: Source) -> Result<RdsClient, String> {
    let mut config = ClientConfig::new(source);
    config.region = Some("ap-southeast-1".into());
    config.endpoint = Some(url.to_string());
    config.iam_endpoint = Some(url.to_string());
    RdsClient::new(config).map_err(|e| e.to_string())
}
