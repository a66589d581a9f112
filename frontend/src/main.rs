//! dockopt-frontend: a BuildKit gateway frontend, named on a `# syntax=` line.
//!
//! BuildKit runs it as a container whose stdin/stdout carry gRPC to the `LLBBridge`. It reads the
//! manifest from the `dockerfile` local, plans every target globally, emits one LLB graph in which
//! every shared step is one op, solves the requested target (or every target) and returns the
//! image with its config; asked a subrequest (`docker buildx build --print=targets`), it parses
//! the manifest and answers instead. The only crate that speaks gRPC; stdout belongs to the
//! protocol, so it never prints there.

mod bridge;
mod build;
mod subrequest;

use dockopt_frontend::opts;

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let started = std::time::Instant::now();
    let code = runtime.block_on(async {
        let opts = opts::Opts::from_vars(std::env::vars());
        let mut bridge = match bridge::Bridge::connect().await {
            Ok(b) => b,
            Err(e) => return fail(&format!("cannot reach BuildKit over stdio: {e}")),
        };
        let returned = match build::run(&mut bridge, &opts).await {
            Ok(out) => {
                let returned = bridge.return_ok(out.reference, out.metadata).await;
                // stderr reaches only the daemon's log: the place for timings.
                log(&format!(
                    "{} in {} ms",
                    out.summary,
                    started.elapsed().as_millis()
                ));
                returned
            }
            Err(failure) => {
                let (code, message, details) = failure.into_status();
                bridge.return_error(code, message, details).await
            }
        };
        match returned {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("cannot return the result to BuildKit: {e}")),
        }
    });
    // BuildKit waits for this process to exit; the stdin reader thread must not keep it alive.
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 })
}

/// Writes a line to the daemon's log.
#[allow(clippy::print_stderr)]
pub(crate) fn log(message: &str) {
    eprintln!("dockopt-frontend: {message}");
}

/// Reports to the daemon's log (the only place stderr reaches) and fails.
#[allow(clippy::print_stderr)]
fn fail(message: &str) -> ExitCode {
    eprintln!("dockopt-frontend: {message}");
    ExitCode::FAILURE
}
