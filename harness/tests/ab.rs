//! `ioschain ab`: bad input exits 2 before anything is built; the run flags that follow
//! its own are passed through. (A real A/B builds two release binaries, minutes of work:
//! `ioschain ab --base HEAD~1 --new HEAD` is exercised by hand, see docs/tools.md.)

use ioschain_harness::ab::{self, parse};
use ioschain_harness::run::Exit;

#[test]
fn run_flags_after_the_a_b_s_own_are_passed_through() {
    let args = parse(&[
        "--base",
        "HEAD~1",
        "--new",
        "HEAD",
        "--repeat",
        "2",
        "--rate",
        "50000",
        "--duration",
        "5",
    ])
    .unwrap();
    assert_eq!(args.base, "HEAD~1");
    assert_eq!(args.new, "HEAD");
    assert_eq!(args.repeat, 2);
    assert_eq!(args.run, ["--rate", "50000", "--duration", "5"]);
}

#[test]
fn bad_input_exits_2_before_any_build() {
    for flags in [
        &["--base", "HEAD", "--new", "HEAD", "--repeat", "0"][..],
        &["--base", "no-such-ref-anywhere", "--new", "HEAD"],
        &["--base", "HEAD", "--new", "HEAD", "--rate", "fast"],
        &[
            "--base", "HEAD", "--new", "HEAD", "--rate", "1000", "--out", "/tmp/x",
        ],
        &[
            "--base",
            "HEAD",
            "--new",
            "HEAD",
            "--bands",
            "/no/such/bands.toml",
        ],
    ] {
        let args = parse(flags).unwrap();
        assert_eq!(ab::ab(&args).unwrap(), Exit::BadInput as u8, "{flags:?}");
    }
}
