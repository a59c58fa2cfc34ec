//! A quota as the user writes it: `100/min`, `1500/h`, `10/s`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// `N` calls per `per`: `100/min`, `1500/h`, `10/s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub calls: u32,
    pub per: Duration,
}

impl Rate {
    /// The documented quota of the alert endpoints: 100 calls a minute and 1,500 an hour.
    pub fn documented() -> Vec<Rate> {
        vec![
            Rate {
                calls: 100,
                per: Duration::from_secs(60),
            },
            Rate {
                calls: 1500,
                per: Duration::from_secs(3600),
            },
        ]
    }

    /// Calls per second in the long run.
    pub fn per_second(&self) -> f64 {
        f64::from(self.calls) / self.per.as_secs_f64()
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let bad =
            || format!("invalid rate '{s}': expected N/s, N/min or N/h (e.g. 100/min), or 'off'");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let calls: u32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if calls == 0 {
            return Err(format!(
                "invalid rate '{s}': the number of calls must be at least 1"
            ));
        }
        Ok(Rate {
            calls,
            per: Duration::from_secs(per),
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => return write!(f, "{}/{}s", self.calls, self.per.as_secs()),
        };
        write!(f, "{}/{unit}", self.calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_rates() {
        assert_eq!(
            "100/min".parse::<Rate>().unwrap(),
            Rate {
                calls: 100,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!("1500/h".parse::<Rate>().unwrap().to_string(), "1500/h");
        assert_eq!(" 10 / s ".parse::<Rate>().unwrap().to_string(), "10/s");
        for bad in ["", "10", "0/s", "x/s", "10/day", "-1/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }
}
