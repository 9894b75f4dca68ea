//! `kustomize build DIR` with Ferry's engine, to look at one case by hand:
//! `cargo run -p ferry-kustomize --example build -- DIR [--load-restrictor LoadRestrictionsNone]`.

use ferry_kustomize::{BuildOptions, LoadRestrictions, RealFs, build};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first() else {
        eprintln!("usage: build DIR [--load-restrictor LoadRestrictionsNone]");
        std::process::exit(2);
    };
    let mut options = BuildOptions::default();
    if args.iter().any(|a| a == "LoadRestrictionsNone") {
        options.load_restrictions = LoadRestrictions::None;
    }
    match build(&RealFs, dir.as_ref(), &options) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    }
}
