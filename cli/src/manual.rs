//! `dockopt completions` and `dockopt man`: generated from the argument definitions.

use std::io::Write;

use crate::{Cli, Failure};

/// A shell completion script, to stdout.
pub(crate) fn completions(shell: clap_complete::Shell) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "dockopt", &mut std::io::stdout());
}

/// The manual page: `dockopt` and each subcommand, one roff document.
pub(crate) fn man() -> Result<(), Failure> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    let page = |c: &clap::Command, title: String, out: &mut Vec<u8>| {
        clap_mangen::Man::new(c.clone().version(env!("CARGO_PKG_VERSION")))
            .title(title)
            .render(out)
            .map_err(|e| Failure::Internal(format!("man page: {e}")))
    };
    page(&cmd, "dockopt".into(), &mut out)?;
    for sub in cmd.get_subcommands() {
        page(sub, format!("dockopt-{}", sub.get_name()), &mut out)?;
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Internal(format!("writing the man page: {e}")))
}
