//! `strata-bench`: the benchmark runner. The generators, criterion benches and the comparative
//! runner against DuckDB and ClickHouse arrive with the benchmark issue; see `bench/README.md`.

fn main() {
    eprintln!(
        "strata-bench: no benchmarks yet. The generator and the comparative runner are tracked \
         by the benchmark issue; see bench/README.md."
    );
    std::process::exit(2);
}
