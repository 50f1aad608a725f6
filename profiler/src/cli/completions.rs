//! What is generated from the clap definitions: shell completions (`profile completions`) and
//! the man pages (`profile man DIR`, hidden; `cargo xtask man` runs it to refresh docs/man).
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory as _};
use clap_complete::Shell;

/// Print a completion script for a shell.
#[derive(Args)]
#[command(after_help = "\
Examples:
  profile completions bash > /etc/bash_completion.d/profile
  profile completions zsh > \"${fpath[1]}/_profile\"
  profile completions fish > ~/.config/fish/completions/profile.fish
  source <(profile completions bash)                  # this shell only")]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    #[arg(value_enum, value_name = "SHELL")]
    shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "profile", &mut out);
    profiler::output::emit(None, &String::from_utf8(out).context("completion script")?)?;
    Ok(0)
}

/// Write the man pages, profile.1 and one profile-SUBCOMMAND.1 per subcommand, into a
/// directory (`cargo xtask man` writes docs/man with it).
#[derive(Args)]
pub struct ManArgs {
    /// Where to write the pages (created if missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run_man(args: ManArgs) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    for (name, page) in man_pages() {
        let path = args.dir.join(&name);
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}

/// Every page as (file name, roff): `profile.1` and one `profile-SUBCOMMAND.1` per visible
/// subcommand. No date, so the same definitions give the same bytes and CI can compare them.
pub fn man_pages() -> Vec<(String, String)> {
    let mut root = super::Cli::command().disable_help_subcommand(true);
    root.build();
    let source = format!("profile {}", root.get_version().unwrap_or_default());
    let mut pages = vec![("profile.1".to_owned(), page(&root, &source, true))];
    for sub in root.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let name = format!("profile-{}.1", sub.get_name());
        pages.push((name, page(sub, &source, false)));
    }
    pages
}

fn page(cmd: &clap::Command, source: &str, root: bool) -> String {
    use clap_mangen::roff::{bold, roman, Roff};
    let man = clap_mangen::Man::new(cmd.clone())
        .source(source)
        .manual("profile manual");
    let mut out: Vec<u8> = Vec::new();
    type Section = fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>;
    let sections: [Section; 5] = [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ];
    for render in sections {
        render(&man, &mut out).expect("writing to memory");
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut out)
            .expect("writing to memory");
    }
    let mut roff = Roff::default();
    // after_help: the examples block (up to the first blank line), then notes.
    if let Some(after) = cmd.get_after_help().map(|text| text.to_string()) {
        let (examples, notes) = after.split_once("\n\n").unwrap_or((&after, ""));
        let examples = examples.strip_prefix("Examples:\n").unwrap_or(examples);
        roff.control("SH", ["EXAMPLES"]).control("nf", []);
        for line in examples.lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
        for paragraph in notes.split("\n\n").filter(|p| !p.trim().is_empty()) {
            if paragraph == notes.split("\n\n").next().unwrap_or_default() {
                roff.control("SH", ["NOTES"]);
            } else {
                roff.control("PP", []);
            }
            roff.text([roman(
                paragraph.split_whitespace().collect::<Vec<_>>().join(" "),
            )]);
        }
    }
    if root {
        roff.control("SH", ["EXIT STATUS"]);
        for (code, meaning) in EXIT_STATUS {
            roff.control("TP", [])
                .text([bold(code)])
                .text([roman(meaning)]);
        }
        roff.control("SH", ["ENVIRONMENT"]);
        for (name, meaning) in ENVIRONMENT {
            roff.control("TP", [])
                .text([bold(name)])
                .text([roman(meaning)]);
        }
        roff.control("SH", ["SEE ALSO"]);
        let pages: Vec<String> = cmd
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .map(|sub| format!("profile-{}(1)", sub.get_name()))
            .collect();
        roff.text([roman(pages.join(", "))]);
    } else {
        roff.control("SH", ["SEE ALSO"]).text([roman("profile(1)")]);
    }
    out.extend_from_slice(roff.to_roff().as_bytes());
    if cmd.get_version().is_some() {
        man.render_version_section(&mut out)
            .expect("writing to memory");
    }
    String::from_utf8(out).expect("roff is UTF-8")
}

/// docs/cli.md says the same.
const EXIT_STATUS: [(&str, &str); 4] = [
    ("0", "Success: the profile is valid, written, equal, or reported."),
    ("1", "A difference or violation was found: `diff` found the profiles differ, `report --fail-on` matched."),
    ("2", "Usage or input error: bad arguments, unreadable or invalid profile, missing privileges. Nothing was written."),
    ("N", "`record` and `run` end with the command's own status, 128+N when signal N killed it; 127 when it is not found, 126 when it cannot be executed."),
];

const ENVIRONMENT: [(&str, &str); 2] = [
    (
        "NO_COLOR",
        "When set and not empty, `report` prints no colour (it colours only on a terminal anyway).",
    ),
    (
        "RUST_LOG",
        "Overrides the log levels -v and -q choose, e.g. RUST_LOG=debug.",
    ),
];
