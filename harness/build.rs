//! Records the build's context (rustc, profile, git commit and dirty flag) for run output.

use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    println!(
        "cargo:rustc-env=IOSCHAIN_RUSTC={}",
        run(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into())
    );
    println!(
        "cargo:rustc-env=IOSCHAIN_PROFILE={}",
        std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into())
    );
    let sha = run("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=IOSCHAIN_GIT_SHA={sha}");
    println!("cargo:rustc-env=IOSCHAIN_GIT_DIRTY={dirty}");
    // Rebuild when the commit or the index changes.
    for path in ["../.git/HEAD", "../.git/index", "../.git/refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
