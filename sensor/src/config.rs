//! The optional config file of `sensor run` (`--config FILE`, or `SENSOR_CONFIG`).
//!
//! Its keys are `sensor run`'s long option names (`grpc-addr = "0.0.0.0:50051"`,
//! `no-cri = true`, `client-allow = ["collector-*"]`). Precedence, highest first: the command
//! line, then environment variables, then the config file, then the built-in defaults. The
//! file is applied by turning each of its settings that nothing higher set into a command-line
//! option and parsing again, so it gets exactly the checks the command line gets.
use std::{ffi::OsString, path::Path};

use clap::{CommandFactory as _, FromArgMatches as _, parser::ValueSource};

use crate::cli::Cli;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// Parses the command line, then applies the config file if `sensor run` was given one.
/// Clap's own errors (bad options, `--help`) are returned as they are, for it to print.
pub fn parse(argv: Vec<OsString>) -> Result<Cli, anyhow::Error> {
    let matches = Cli::command().try_get_matches_from(&argv)?;
    let Some(("run", run)) = matches.subcommand() else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let Some(path) = run.get_one::<std::path::PathBuf>("config") else {
        return Ok(Cli::from_arg_matches(&matches)?);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let extra = options_from(path, &text, |id| {
        matches!(
            run.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    })?;
    let mut argv = argv;
    argv.extend(extra);
    let matches = Cli::command().try_get_matches_from(&argv)?;
    Ok(Cli::from_arg_matches(&matches)?)
}

/// The command-line options the file stands for, leaving out those `set_higher` says were
/// given on the command line or in the environment.
pub fn options_from(
    path: &Path,
    text: &str,
    set_higher: impl Fn(&str) -> bool,
) -> Result<Vec<OsString>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.display().to_string(),
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
    let cmd = Cli::command();
    let run = cmd
        .find_subcommand("run")
        .expect("the run subcommand exists");
    let mut out = Vec::new();
    for (key, value) in table {
        let arg = run
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config")
            .ok_or_else(|| {
                invalid(format!(
                    "unknown setting `{key}` (the keys are `sensor run --help`'s long options)"
                ))
            })?;
        if set_higher(arg.get_id().as_str()) {
            continue;
        }
        let flag = !arg.get_action().takes_values();
        let values = match value {
            toml::Value::Array(items) => items,
            single => vec![single],
        };
        for v in values {
            let text = match (&v, flag) {
                (toml::Value::Boolean(true), true) => None,
                (toml::Value::Boolean(false), true) => continue,
                (_, true) => return Err(invalid(format!("`{key}` is a switch: true or false"))),
                (toml::Value::String(s), false) => Some(s.clone()),
                (toml::Value::Integer(i), false) => Some(i.to_string()),
                (toml::Value::Boolean(b), false) => Some(b.to_string()),
                (other, false) => {
                    return Err(invalid(format!(
                        "`{key}`: a string, number or list of them, not {}",
                        other.type_str()
                    )));
                }
            };
            out.push(match text {
                None => OsString::from(format!("--{key}")),
                Some(t) => OsString::from(format!("--{key}={t}")),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(text: &str, higher: &[&str]) -> Result<Vec<String>, ConfigError> {
        options_from(Path::new("/etc/sensor.toml"), text, |id| {
            higher.contains(&id)
        })
        .map(|v| v.into_iter().map(|o| o.into_string().unwrap()).collect())
    }

    #[test]
    fn settings_become_options_unless_set_higher() {
        let text = r#"
grpc-addr = "0.0.0.0:50051"
no-cri = true
quiet = false
client-allow = ["collector-a", "collector-b"]
replay-buffer = 100
"#;
        let got = opts(text, &["replay_buffer"]).unwrap();
        assert_eq!(
            got,
            [
                "--client-allow=collector-a",
                "--client-allow=collector-b",
                "--grpc-addr=0.0.0.0:50051",
                "--no-cri",
            ]
        );
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/sensor.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let got = options_from(Path::new(path), &text, |_| false).unwrap();
        assert!(got.iter().any(|o| o == "--quiet"), "{got:?}");
        let mut argv: Vec<OsString> = ["sensor", "run"].map(Into::into).into();
        argv.extend(got);
        Cli::command().try_get_matches_from(argv).unwrap();
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let e = opts("grpc_adr = 1", &[]).unwrap_err().to_string();
        assert!(e.contains("unknown setting `grpc_adr`"), "{e}");
        let e = opts("no-cri = \"yes\"", &[]).unwrap_err().to_string();
        assert!(e.contains("switch"), "{e}");
        let e = opts("grpc-addr = ", &[]).unwrap_err().to_string();
        assert!(
            e.starts_with("config file /etc/sensor.toml:") && e.contains("line 1"),
            "{e}"
        );
        let e = opts("config = \"/x\"", &[]).unwrap_err().to_string();
        assert!(e.contains("unknown setting `config`"), "{e}");
    }

    #[test]
    fn the_command_line_beats_the_file_and_the_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("sensor-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("sensor.toml");
        std::fs::write(&file, "grpc-addr = \"127.0.0.2:1\"\nreplay-buffer = 7\n").unwrap();
        let argv = |extra: &[&str]| -> Vec<OsString> {
            let mut v: Vec<OsString> = ["sensor", "run", "--config"].map(Into::into).into();
            v.push(file.clone().into());
            v.extend(extra.iter().map(Into::into));
            v
        };
        let run = |cli: Cli| match cli.command {
            crate::cli::Command::Run(r) => r,
            _ => panic!("not run"),
        };
        let a = run(parse(argv(&[])).unwrap());
        assert_eq!(
            (a.grpc_addr.to_string(), a.replay_buffer),
            ("127.0.0.2:1".into(), 7)
        );
        let b = run(parse(argv(&["--replay-buffer", "9"])).unwrap());
        assert_eq!(b.replay_buffer, 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `sensor run` with `args`, or clap's error.
    fn run_with(args: &[&str]) -> Result<Box<crate::cli::RunArgs>, String> {
        let argv = ["sensor", "run"].iter().chain(args).map(OsString::from);
        match parse(argv.collect()).map_err(|e| e.to_string())? {
            Cli {
                command: crate::cli::Command::Run(r),
            } => Ok(r),
            _ => Err("not `sensor run`".into()),
        }
    }

    #[test]
    fn worker_threads_are_one_or_more() {
        let r = run_with(&["--worker-threads", "1"]).expect("--worker-threads 1 refused");
        assert_eq!(r.worker_threads, Some(1));
        let e = run_with(&["--worker-threads", "0"]).unwrap_err();
        assert!(e.contains("worker-threads"), "{e}");
    }

    #[test]
    fn the_process_event_delay_is_100_ms_unless_set_within_1_to_1000() {
        let r = run_with(&[]).expect("no options");
        assert_eq!(r.process_event_delay_ms, 100);
        let r = run_with(&["--process-event-delay-ms", "250"]).expect("250 refused");
        assert_eq!(r.process_event_delay_ms, 250);
        for bad in ["0", "1001", "-5", "0.5"] {
            let e = run_with(&[&format!("--process-event-delay-ms={bad}")]).unwrap_err();
            assert!(e.contains("process-event-delay-ms"), "{bad}: {e}");
        }
    }
}
