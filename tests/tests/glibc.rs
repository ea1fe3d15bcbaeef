//! The function binaries must run on Amazon Linux 2023 (`provided.al2023`), whose glibc is 2.34:
//! no binary may need a newer GLIBC symbol version. (Release builds use the same libc symbols.)

use keygate_tests::bins::binary;
use std::process::Command;

fn version(v: &str) -> (u32, u32) {
    let mut it = v
        .trim_start_matches("GLIBC_")
        .split('.')
        .map(|x| x.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

#[test]
fn function_binaries_need_at_most_glibc_2_34() {
    for f in keygate_tests::bins::functions() {
        let out = Command::new("objdump")
            .arg("-T")
            .arg(binary(f))
            .output()
            .expect("objdump (binutils) is needed for this check");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let newest = text
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '(' || c == ')'))
            .filter(|w| w.starts_with("GLIBC_2."))
            .map(version)
            .max()
            .unwrap_or((0, 0));
        assert!(
            newest >= (2, 2),
            "{f}: no GLIBC symbols found; is it dynamically linked?"
        );
        assert!(
            newest <= (2, 34),
            "{f} needs GLIBC {}.{}, newer than Amazon Linux 2023's 2.34",
            newest.0,
            newest.1
        );
    }
}
