//! Number tokens with Python's `json` semantics: exact integers (big ones kept as text),
//! floats, `NaN`/`Infinity`, and a fast path for the common plain decimal.

use super::{JsonError, Scanner};

/// A number token: Python keeps integers exact and reads the rest as float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num<'a> {
    /// Fits i64.
    Int(i64),
    /// An integer literal beyond i64.
    BigInt(&'a str),
    /// A float literal or NaN/Infinity.
    Float(f64),
}

impl<'a> Scanner<'a> {
    /// The common number in one tight pass: after whitespace, `-?digits(.digits)?` with at
    /// most 19 digits, no exponent and no leading zero, whose value the fast path gives
    /// exactly (a float mantissa below 2^53 with at most 22 decimals; an int that fits i64).
    /// Anything else returns `None` with the cursor on the value, for [`Scanner::number`]
    /// (or [`Scanner::kind`]) to handle.
    #[inline]
    pub fn plain_number(&mut self) -> Option<Num<'a>> {
        self.ws();
        let b = self.b;
        let mut p = self.pos;
        let negative = b.get(p) == Some(&b'-');
        p += usize::from(negative);
        let int_start = p;
        let mut mantissa: u64 = 0;
        while let Some(&c) = b.get(p) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
            p += 1;
        }
        let int_len = p - int_start;
        if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
            return None;
        }
        let mut frac = 0;
        if b.get(p) == Some(&b'.') {
            let frac_start = p + 1;
            let mut q = frac_start;
            while let Some(&c) = b.get(q) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
                q += 1;
            }
            frac = q - frac_start;
            if frac == 0 {
                return None;
            }
            p = q;
        }
        if matches!(b.get(p), Some(b'e' | b'E')) || int_len + frac > 19 {
            return None;
        }
        let num = if frac > 0 {
            if mantissa >= 1 << 53 || frac >= POW10.len() {
                return None;
            }
            let x = mantissa as f64 / POW10[frac];
            Num::Float(if negative { -x } else { x })
        } else {
            let i = i64::try_from(mantissa).ok()?;
            Num::Int(if negative { -i } else { i })
        };
        self.pos = p;
        Some(num)
    }

    /// Reads a number (the cursor is on it).
    pub fn number(&mut self) -> Result<Num<'a>, JsonError> {
        match self.number_span::<true>()? {
            NumSpan::Special(x) => Ok(Num::Float(x)),
            NumSpan::Text {
                start,
                end,
                float,
                digits,
            } => {
                // Clinger's fast path: an integer mantissa below 2^53 and a power of ten up to
                // 10^22 are both exact doubles, so one IEEE division is correctly rounded,
                // the same double `float()` gives. Anything else takes the full parser.
                if let Some(Digits {
                    mantissa,
                    frac,
                    negative,
                }) = digits
                {
                    if float && mantissa < (1 << 53) && (frac as usize) < POW10.len() {
                        let x = mantissa as f64 / POW10[frac as usize];
                        return Ok(Num::Float(if negative { -x } else { x }));
                    }
                    if !float && frac == 0 && mantissa <= i64::MAX as u64 {
                        let i = mantissa as i64;
                        return Ok(Num::Int(if negative { -i } else { i }));
                    }
                }
                let text = &self.doc[start..end];
                if float {
                    Ok(Num::Float(text.parse::<f64>().unwrap_or(f64::NAN)))
                } else {
                    match text.parse::<i64>() {
                        Ok(i) => Ok(Num::Int(i)),
                        Err(_) => Ok(Num::BigInt(text)),
                    }
                }
            }
        }
    }

    /// Moves past a number without converting it (validation pass).
    pub fn skip_number(&mut self) -> Result<(), JsonError> {
        self.number_span::<false>().map(|_| ())
    }

    /// Finds the extent of the number under the cursor, as Python's scanner does, and moves
    /// past it.
    /// `DIGITS`: also gather the digits for `number`'s fast path (not needed to skip).
    fn number_span<const DIGITS: bool>(&mut self) -> Result<NumSpan, JsonError> {
        self.ws();
        let start = self.pos;
        let rest = &self.b[self.pos..];
        match rest.first() {
            Some(b'N') if rest.starts_with(b"NaN") => {
                self.pos += 3;
                return Ok(NumSpan::Special(f64::NAN));
            }
            Some(b'I') if rest.starts_with(b"Infinity") => {
                self.pos += 8;
                return Ok(NumSpan::Special(f64::INFINITY));
            }
            Some(b'-') if rest.starts_with(b"-Infinity") => {
                self.pos += 9;
                return Ok(NumSpan::Special(f64::NEG_INFINITY));
            }
            _ => {}
        }
        let b = self.b;
        let mut p = self.pos;
        let negative = b.get(p) == Some(&b'-');
        if negative {
            p += 1;
        }
        // The decimal digits as an integer mantissa (wrapping; only used when there are at
        // most 19 of them, which cannot overflow), for `number`'s fast path.
        let mut mantissa: u64 = 0;
        let int_start = p;
        match b.get(p) {
            Some(b'0') => p += 1,
            Some(c) if c.is_ascii_digit() => {
                while p < b.len() && b[p].is_ascii_digit() {
                    if DIGITS {
                        mantissa = mantissa
                            .wrapping_mul(10)
                            .wrapping_add(u64::from(b[p] - b'0'));
                    }
                    p += 1;
                }
            }
            _ => return self.err("Expecting value", start),
        }
        let mut ndigits = p - int_start;
        let mut float = false;
        let mut frac: u32 = 0;
        if b.get(p) == Some(&b'.') && b.get(p + 1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            p += 1;
            let frac_start = p;
            while p < b.len() && b[p].is_ascii_digit() {
                if DIGITS {
                    mantissa = mantissa
                        .wrapping_mul(10)
                        .wrapping_add(u64::from(b[p] - b'0'));
                }
                p += 1;
            }
            ndigits += p - frac_start;
            frac = u32::try_from(p - frac_start).unwrap_or(u32::MAX);
        }
        let mut exponent = false;
        if matches!(b.get(p), Some(b'e') | Some(b'E')) {
            let mut q = p + 1;
            if matches!(b.get(q), Some(b'+') | Some(b'-')) {
                q += 1;
            }
            if b.get(q).is_some_and(|c| c.is_ascii_digit()) {
                while q < b.len() && b[q].is_ascii_digit() {
                    q += 1;
                }
                float = true;
                exponent = true;
                p = q;
            }
        }
        self.pos = p;
        Ok(NumSpan::Text {
            start,
            end: p,
            float,
            digits: (DIGITS && !exponent && ndigits <= 19).then_some(Digits {
                mantissa,
                frac,
                negative,
            }),
        })
    }
}

/// Where a number is in the document, or a non-finite literal.
enum NumSpan {
    Special(f64),
    Text {
        start: usize,
        end: usize,
        float: bool,
        /// The digits as an integer, when there is no exponent and at most 19 digits.
        digits: Option<Digits>,
    },
}

/// A number's decimal digits read as one integer: `-12.345` is 12345, 3 fraction digits.
#[derive(Clone, Copy)]
struct Digits {
    mantissa: u64,
    frac: u32,
    negative: bool,
}

/// The powers of ten that are exact doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
