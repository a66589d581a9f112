//! What a user meets first: `--version`, shell completions (run once in a real bash) and the
//! manual page.

use std::process::{Command, Output};

fn dockopt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dockopt"))
        .args(args)
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn version_names_the_frontend_image() {
    let out = dockopt(&["--version"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("dockopt {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains("dockopt/frontend:local"), "{text}");
}

/// Completes `words` (the last one being typed) with the generated bash completion, in bash.
fn complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' && COMP_WORDS=({}) && COMP_CWORD={} && COMP_LINE='{line}' && \
         COMP_POINT=${{#COMP_LINE}} && _dockopt dockopt '{}' '{}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().map(str::to_owned).collect()
}

#[test]
fn the_bash_completion_completes_commands_and_flags() {
    let out = dockopt(&["completions", "bash"]);
    assert!(out.status.success());
    let dir = std::env::temp_dir().join(format!("dockopt-completion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("dockopt.bash");
    std::fs::write(&script, &out.stdout).expect("write");

    let mut commands = complete(&script, &["dockopt", "pl"]);
    commands.sort();
    assert_eq!(commands, ["place", "plan"]);
    let mut flags = complete(&script, &["dockopt", "build", "--no-"]);
    flags.sort();
    assert_eq!(flags, ["--no-cache", "--no-lock"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zsh_and_fish_completions_are_written() {
    for (shell, mark) in [("zsh", "#compdef dockopt"), ("fish", "complete -c dockopt")] {
        let out = dockopt(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        assert!(stdout(&out).contains(mark), "{shell}");
    }
    let bad = dockopt(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(1), "a usage error exits 1");
}

#[test]
fn the_man_page_has_every_command() {
    let out = dockopt(&["man"]);
    assert!(out.status.success());
    let page = stdout(&out);
    for command in ["plan", "build", "import", "place", "completions"] {
        assert!(
            page.contains(&format!(".TH dockopt-{command} 1")),
            "no page for {command}"
        );
    }
    assert!(page.contains("\\-\\-no\\-cache"), "flags are documented");
}
