//! The migtag binary: parse the command line, run, map the outcome to an exit code.

fn main() {
    std::panic::set_hook(Box::new(|info| {
        migtag::ewriteln!("migtag: internal error (a bug, please report it): {info}");
    }));
    let cli = match migtag::cli::parse_args() {
        Ok(cli) => cli,
        Err(err) => {
            let code = migtag::report_usage_error(err);
            std::process::exit(finish(code).code())
        }
    };
    let json = cli.global.format == migtag::cli::Format::Json;
    let code = match std::panic::catch_unwind(move || migtag::commands::run(cli)) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            migtag::report_error(&err, json);
            err.exit_code()
        }
        Err(_) => migtag::ExitCode::Internal,
    };
    std::process::exit(finish(code).code());
}

/// The exit code, unless stdout could not be written (a full disk): then the report never
/// arrived, and that is a write error (exit 1), whatever the decision was. A closed pipe is
/// not such a failure (`render::out`).
fn finish(code: migtag::ExitCode) -> migtag::ExitCode {
    match migtag::render::stdout_failure() {
        Some(err) => {
            migtag::report_error(&err, false);
            err.exit_code()
        }
        None => code,
    }
}
