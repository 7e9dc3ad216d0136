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
    // Rebuild when the commit or the index changes (in a worktree, HEAD and the index
    // live in its own git dir and the refs in the common one).
    let dirs = [
        run("git", &["rev-parse", "--absolute-git-dir"]),
        run(
            "git",
            &["rev-parse", "--path-format=absolute", "--git-common-dir"],
        ),
    ];
    for dir in dirs.into_iter().flatten() {
        for name in ["HEAD", "index", "refs", "packed-refs"] {
            let path = std::path::Path::new(&dir).join(name);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
