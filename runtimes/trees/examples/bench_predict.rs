//! Times in-process prediction for `benches/trees.py`: reads a model file, scores `rows`
//! rows of the given CSV-free random data (the same generator seed the Python side uses is
//! not needed: rows are drawn here, uniform in [0, 10) with 10% NaN) for `seconds`, on
//! `threads` threads (each thread scores its own share of the rows, as the server's workers
//! score their own requests), and prints `{"us_per_call": …, "rows_per_s": …}`.
//!
//! `cargo run --release -p runtime-trees --example bench_predict -- FILE xgboost|lightgbm|skops ROWS THREADS SECONDS`

use std::time::{Duration, Instant};

use runtime_trees::{read_model, Answer, CallOptions, FileKind, Limits};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: bench_predict FILE xgboost|lightgbm|skops ROWS THREADS SECONDS");
        std::process::exit(2);
    }
    let bytes = std::fs::read(&args[1]).expect("model file");
    let kind = match args[2].as_str() {
        "xgboost" => FileKind::XGBoost,
        "lightgbm" => FileKind::LightGBM,
        _ => FileKind::LightGBMSkops,
    };
    let rows: usize = args[3].parse().expect("rows");
    let threads: usize = args[4].parse::<usize>().expect("threads").max(1);
    let seconds: f64 = args[5].parse().expect("seconds");
    let model = read_model(&bytes, kind, &Limits::default()).expect("model");
    let nf = model.n_features;
    // A small xorshift: deterministic rows without a dependency.
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let x: Vec<f64> = (0..rows * nf)
        .map(|_| {
            let u = next();
            if u < 0.1 {
                f64::NAN
            } else {
                u * 100.0 - 10.0
            }
        })
        .collect();
    let share = rows.div_ceil(threads);
    let run_once = || {
        std::thread::scope(|sc| {
            for chunk in x.chunks(share * nf) {
                let m = &model;
                sc.spawn(move || {
                    let r = chunk.len() / nf;
                    std::hint::black_box(
                        m.predict(chunk, r, Answer::Booster, CallOptions::default())
                            .expect("predict"),
                    );
                });
            }
        })
    };
    let single = threads == 1;
    let call = |x: &[f64]| {
        std::hint::black_box(
            model
                .predict(x, rows, Answer::Booster, CallOptions::default())
                .expect("predict"),
        );
    };
    for _ in 0..3 {
        if single {
            call(&x)
        } else {
            run_once()
        }
    }
    let (mut n, t0) = (0u64, Instant::now());
    while t0.elapsed() < Duration::from_secs_f64(seconds) {
        if single {
            call(&x)
        } else {
            run_once()
        }
        n += 1;
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "{{\"us_per_call\": {us:.3}, \"rows_per_s\": {:.0}}}",
        rows as f64 / (us / 1e6)
    );
}
