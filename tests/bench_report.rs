//! `scripts/bench` prints its tables from the numbers it measured; a run
//! takes half an hour, so the printing is checked here on a saved run
//! (`--report FILE`, a fixture of round numbers), measuring nothing. A
//! fault in the printing once lost a whole run's results at the end.

use std::path::Path;
use std::process::Command;

#[test]
fn the_bench_prints_every_table_of_a_saved_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/bench"))
        .arg("--report")
        .arg(root.join("tests/support/bench-run.json"))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/bench --report failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each row with its ratio and verdict, worked out from the fixture.
    for row in [
        "| seif seal / rage encrypt                 |   3.50 | ≥ 3.00 |",
        "| seif seal / all-core ceiling             |   0.83 | ✗ 0.90 |",
        "| seif push / restic backup                |   4.00 | ≥ 2.00 |",
        "| second push of an unchanged tree: seconds | 0.25 | 1.50 | 0.17 | seif ≤ 0.5 × restic ✓ |",
        "| changed 2048 MiB dump, scattered: bytes stored | 2040109465 (95.0% of the file) | 2061584302 | 0.99 | ≤ 3% ✗, ≤ 1.2 × restic ✓ |",
        "| a month of daily pushes: store bytes | 2200000000 | 2000000000 | 1.10 | ≤ 1.3 × restic ✓ |",
        "| first push, MB/s (now vs before incremental) | 634 | (before: 792) | 0.80 | ≥ 0.9 ✗ |",
        "| first push vs restic's first backup, MB/s | 634 | 198 | 3.20 | ≥ 2 ✓ |",
    ] {
        assert!(text.contains(row), "no row {row:?} in:\n{text}");
    }
}
