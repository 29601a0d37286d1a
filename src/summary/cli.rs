//! The `summary` subcommand of the provider binary: its arguments, its inputs read from
//! files (or the plan from stdin with `--plan -`), the comment on stdout, and every
//! failure as one line on stderr with a non-zero exit code.

use std::fmt;
use std::io::{Read, Write};
use std::process::ExitCode;

use super::{Summary, SummaryError};

/// The subcommand's name: `terraform-provider-hwrds summary …`.
pub const SUBCOMMAND: &str = "summary";

/// What `--help` prints.
pub const USAGE: &str = "\
Usage: terraform-provider-hwrds summary --plan PLAN_JSON [--log PLAN_LOG_JSONL]

Prints a Markdown pull-request comment of the hwrds_db_minor_upgrade changes of a saved
plan: counts, one row per upgrade (from -> to, impact, now or in the maintenance window),
what has nothing to install, the instances an output `excluded` or `blocked` leaves out,
and the plan's warnings.

  --plan FILE   the output of `terraform show -json tfplan` (`-` reads stdin)
  --log FILE    the output of `terraform plan -out=tfplan -json` (its warnings)

  terraform plan -out=tfplan -json > plan.log.jsonl
  terraform show -json tfplan > plan.json
  terraform-provider-hwrds summary --plan plan.json --log plan.log.jsonl";

/// Where an input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Input {
    Stdin,
    File(String),
}

impl Input {
    fn of(arg: &str) -> Input {
        match arg {
            "-" => Input::Stdin,
            path => Input::File(path.to_string()),
        }
    }

    fn read(&self) -> Result<String, String> {
        match self {
            Input::Stdin => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map(|_| text)
                    .map_err(|e| format!("cannot read stdin: {e}"))
            }
            Input::File(path) => {
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
            }
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Stdin => f.write_str("stdin"),
            Input::File(path) => f.write_str(path),
        }
    }
}

/// The arguments, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    Help,
    Summarize { plan: Input, log: Option<Input> },
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut plan = None;
    let mut log = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let slot = match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "--plan" => &mut plan,
            "--log" => &mut log,
            other => return Err(format!("unknown argument {other:?}")),
        };
        let value = inline
            .or_else(|| rest.next().cloned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("{flag} needs a file"))?;
        if slot.replace(Input::of(&value)).is_some() {
            return Err(format!("{flag} is given twice"));
        }
    }
    let plan = plan.ok_or("--plan is required")?;
    if plan == Input::Stdin && log == Some(Input::Stdin) {
        return Err("only one of --plan and --log can read stdin".to_string());
    }
    Ok(Command::Summarize { plan, log })
}

fn summarize(plan: &Input, log: Option<&Input>) -> Result<String, String> {
    let labelled = |input: &Input, e: SummaryError| format!("{input}: {e}");
    let mut summary = Summary::of_plan(&plan.read()?).map_err(|e| labelled(plan, e))?;
    if let Some(log) = log {
        summary = summary
            .with_log(&log.read()?)
            .map_err(|e| labelled(log, e))?;
    }
    Ok(summary.to_markdown())
}

/// Runs the subcommand with the arguments after `summary`.
pub fn run(args: &[String]) -> ExitCode {
    let (plan, log) = match parse(args) {
        Ok(Command::Help) => return print(USAGE),
        Ok(Command::Summarize { plan, log }) => (plan, log),
        Err(e) => {
            complain(&format!("{e}\n\n{USAGE}"));
            return ExitCode::from(2);
        }
    };
    match summarize(&plan, log.as_ref()) {
        Ok(markdown) => print(markdown.trim_end()),
        Err(e) => {
            complain(&e);
            ExitCode::from(1)
        }
    }
}

/// Writes `text` and a newline on stdout; a closed stdout is an error, not a panic.
fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain(&format!("cannot write the summary: {e}"));
            ExitCode::from(1)
        }
    }
}

fn complain(message: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "terraform-provider-hwrds {SUBCOMMAND}: {message}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(all: &[&str]) -> Vec<String> {
        all.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn arguments_name_the_plan_and_the_log() {
        assert_eq!(
            parse(&args(&["--plan", "p.json", "--log=l.jsonl"])),
            Ok(Command::Summarize {
                plan: Input::File("p.json".into()),
                log: Some(Input::File("l.jsonl".into()))
            })
        );
        assert_eq!(
            parse(&args(&["--plan=-"])),
            Ok(Command::Summarize {
                plan: Input::Stdin,
                log: None
            })
        );
        assert_eq!(parse(&args(&["--log", "l", "-h"])), Ok(Command::Help));
    }

    #[test]
    fn wrong_arguments_say_what_is_wrong() {
        let err = |all: &[&str]| parse(&args(all)).unwrap_err();
        assert_eq!(err(&[]), "--plan is required");
        assert_eq!(err(&["--plan"]), "--plan needs a file");
        assert_eq!(err(&["--plan="]), "--plan needs a file");
        assert_eq!(
            err(&["--plan", "a", "--plan", "b"]),
            "--plan is given twice"
        );
        assert_eq!(err(&["plan.json"]), "unknown argument \"plan.json\"");
        assert!(err(&["--plan", "-", "--log", "-"]).contains("stdin"));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = summarize(&Input::File("/nonexistent/plan.json".into()), None).unwrap_err();
        assert!(e.starts_with("cannot read /nonexistent/plan.json: "), "{e}");
    }

    #[test]
    fn a_bad_input_is_named_in_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.json");
        std::fs::write(
            &plan,
            "{\"format_version\": \"1.2\", \"planned_values\": {}}",
        )
        .unwrap();
        let log = dir.path().join("plan.txt");
        std::fs::write(&log, "Plan: 0 to add").unwrap();
        let path = |p: &std::path::Path| Input::File(p.display().to_string());
        let e = summarize(&path(&plan), Some(&path(&log))).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: not the log", log.display())),
            "{e}"
        );
        let ok = summarize(&path(&plan), None).expect("an empty plan");
        assert!(ok.contains("No minor version upgrade to submit."), "{ok}");
    }
}
