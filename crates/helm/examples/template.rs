//! `cargo run -p ferry-helm --example template -- CHART [VALUES.yaml...]`: renders a chart as
//! `helm template CHART -f VALUES...` does (a development aid for comparing with Helm).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(chart_path) = args.first() else {
        eprintln!("usage: template CHART [VALUES.yaml...]");
        return std::process::ExitCode::FAILURE;
    };
    let mut opts = ferry_helm::values::options::ValueOptions::default();
    for f in &args[1..] {
        match std::fs::read_to_string(f) {
            Ok(text) => opts.value_files.push((f.clone(), text)),
            Err(e) => {
                eprintln!("Error: {f}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let result = opts
        .merge(&mut |p| std::fs::read_to_string(p).map_err(|e| e.to_string()))
        .map_err(|e| e.to_string())
        .and_then(|vals| {
            let chart = ferry_helm::chart::load::load(std::path::Path::new(chart_path)).map_err(|e| e.to_string())?;
            ferry_helm::template::template(chart, &vals, &Default::default()).map_err(|e| e.cli_message())
        });
    match result {
        Ok(r) => {
            print!("{}", r.output);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
