//! What a Dockerfile's instructions have set so far in a stage (ENV, ARG, WORKDIR, USER, SHELL
//! and the image config), and how a `$NAME` in a later instruction is looked up in it.

use std::collections::BTreeMap;

use super::lex::Lookup;

/// The PATH Docker gives images that set none (assumed for `$PATH` when the base image is not
/// in the local engine; said so on stderr).
pub(super) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Env vars a program reads without the command naming them: kept in every step's context.
pub(super) const AMBIENT: &[&str] = &[
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "DEBIAN_FRONTEND",
    "HOME",
    "TZ",
    "SHELL",
];

/// A stage's state after the instructions read so far.
#[derive(Clone, Debug, Default)]
pub(super) struct State {
    /// ENV in effect, with the line that set it.
    pub(super) env: BTreeMap<String, (String, usize)>,
    /// The base image's env, when the engine knows the image (substitution only).
    pub(super) base_env: Option<BTreeMap<String, String>>,
    /// ARGs declared in this stage: value (None: declared without one).
    pub(super) args: BTreeMap<String, Option<String>>,
    pub(super) workdir: Option<String>,
    pub(super) user: Option<String>,
    pub(super) shell: Option<Vec<String>>,
    pub(super) cmd: Option<Vec<String>>,
    pub(super) entrypoint: Option<Vec<String>>,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) expose: Vec<String>,
    pub(super) volumes: Vec<String>,
    pub(super) stop_signal: Option<String>,
    /// `healthcheck:` as YAML (flow mapping, or `none`).
    pub(super) healthcheck: Option<String>,
}

impl State {
    /// What `$name` is here: ENV, then this stage's ARGs, then the base image's env (Docker's
    /// default `PATH` when the base image is not known).
    pub(super) fn lookup(&self, name: &str) -> Lookup {
        if let Some((v, _)) = self.env.get(name) {
            return Lookup::Set(v.clone());
        }
        match self.args.get(name) {
            Some(Some(v)) => return Lookup::Set(v.clone()),
            Some(None) => return Lookup::Unset,
            None => {}
        }
        match &self.base_env {
            Some(env) => env
                .get(name)
                .map_or(Lookup::Unset, |v| Lookup::Set(v.clone())),
            // Docker's default PATH, which images without their own have.
            None if name == "PATH" => Lookup::Set(DEFAULT_PATH.into()),
            None => Lookup::Unknown,
        }
    }
}
