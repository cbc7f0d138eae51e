//! Python-compatible text: `json.dumps` output (MLflow's response format) and the `repr`
//! forms of floats, strings and bytes that MLflow embeds in its messages.

pub mod dataframe;
pub mod ndarray;
mod number;
mod repr;
mod value;
mod write;

pub use number::{py_float, py_int};
pub use repr::*;
pub use value::Cell;
#[cfg(test)]
use write::write_f64_general;
pub use write::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn r(x: f64) -> String {
        f64_repr(x)
    }

    #[test]
    fn floats_like_python() {
        assert_eq!(r(1e16), "1e+16");
        assert_eq!(r(1e15), "1000000000000000.0");
        assert_eq!(r(1e-5), "1e-05");
        assert_eq!(r(0.0001), "0.0001");
        assert_eq!(r(1.5e-10), "1.5e-10");
        assert_eq!(r(100.0), "100.0");
        assert_eq!(r(-0.0), "-0.0");
        assert_eq!(r(0.0), "0.0");
        assert_eq!(r(0.1f32 as f64), "0.10000000149011612");
        assert_eq!(r(6.043787956237793), "6.043787956237793");
        assert_eq!(r(-1.1771970720806994e18), "-1.1771970720806994e+18");
        assert_eq!(r(123456.789), "123456.789");
        assert_eq!(r(f64::NAN), "NaN");
        assert_eq!(r(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(r(2.5e-5), "2.5e-05");
        assert_eq!(r(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(r(5e-324), "5e-324");
    }

    #[test]
    fn positional_fast_path_equals_the_general_layout() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![0.0, -0.0, 1e-4, -1e-4, 9.999999999999998e15, 1e16, 1.0, 0.1];
        for _ in 0..50_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let x = f64::from_bits(rng);
            values.push(x);
            // Also values of ordinary magnitude, where the fast path applies.
            values.push((rng % 1_000_000_007) as f64 / 10f64.powi((rng % 12) as i32));
        }
        for x in values.into_iter().filter(|x| x.is_finite()) {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            write_f64(&mut fast, x);
            write_f64_general(&mut general, x);
            assert_eq!(fast, general, "{x:e}");
        }
    }

    #[test]
    fn strings_like_python() {
        let mut v = Vec::new();
        write_str(&mut v, "é☃😀\"\\\n\u{7f}/");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#""\u00e9\u2603\ud83d\ude00\"\\\n\u007f/""#
        );
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a\\b"), "'a\\\\b'");
        assert_eq!(bytes_repr(b"{'a': 1}"), "b\"{'a': 1}\"");
        assert_eq!(bytes_repr(b"\xc3\xa9\n"), "b'\\xc3\\xa9\\n'");
    }

    #[test]
    fn renderings_of_request_data_are_bounded() {
        let big = "x".repeat(10 * DEFAULT_MAX_ERROR_DATA);
        let r = str_repr(&big);
        assert!(r.len() <= DEFAULT_MAX_ERROR_DATA + 3, "{}", r.len());
        assert!(r.starts_with("'xxx") && r.ends_with("x..."));
        let b = bytes_repr(&vec![0x80u8; 10 * DEFAULT_MAX_ERROR_DATA]);
        assert!(b.len() <= DEFAULT_MAX_ERROR_DATA + 3);
        assert!(b.starts_with("b'\\x80") && b.ends_with("\\x80..."));
        // Small values keep Python's exact text.
        assert_eq!(str_repr(&"y".repeat(100)), format!("'{}'", "y".repeat(100)));
        let keys: Vec<String> = (0..100_000).map(|i| format!("'k{i}'")).collect();
        let j = join_bounded(&keys, ", ");
        assert!(j.len() <= DEFAULT_MAX_ERROR_DATA + 3 && j.ends_with("..."));
        assert_eq!(join_bounded(["'a'", "'b'"], ", "), "'a', 'b'");
    }
}
