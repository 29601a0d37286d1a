//! hwrds-emulator: the Huawei Cloud RDS API emulator.
//! `hwrds-emulator --listen 127.0.0.1:0 [--config FILE] [--state-file FILE]`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use hwrds::emulator::{self, Config};

const USAGE: &str = "usage: hwrds-emulator --listen ADDR [--config FILE] [--state-file FILE]";

fn main() -> ExitCode {
    let mut listen = "127.0.0.1:0".to_string();
    let mut config_file: Option<PathBuf> = None;
    let mut state_file: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        let result = match arg.as_str() {
            "--listen" => value().map(|v| listen = v),
            "--config" => value().map(|v| config_file = Some(PathBuf::from(v))),
            "--state-file" => value().map(|v| state_file = Some(PathBuf::from(v))),
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other:?}\n{USAGE}")),
        };
        if let Err(message) = result {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    }
    let config = match &config_file {
        None => Config::default(),
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Config>(&b).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("hwrds-emulator: cannot read config {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hwrds-emulator: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let shared = match emulator::load(config, state_file) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("hwrds-emulator: {e}");
                return ExitCode::from(1);
            }
        };
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hwrds-emulator: cannot listen on {listen}: {e}");
                return ExitCode::from(1);
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("hwrds-emulator: {e}");
                return ExitCode::from(1);
            }
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", emulator::listening_line(addr)).and_then(|_| stdout.flush());
        drop(stdout);
        emulator::serve(listener, shared, shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}
