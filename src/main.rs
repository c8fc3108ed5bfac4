//! The migtag binary: parse the command line, run, map the outcome to an exit code.

fn main() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("migtag: internal error (a bug, please report it): {info}");
    }));
    let cli = match migtag::cli::parse_args() {
        Ok(cli) => cli,
        Err(err) => std::process::exit(migtag::report_usage_error(err).code()),
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
    std::process::exit(code.code());
}
