//! Distributions of the models: constant, uniform, exponential, normal, lognormal, gamma and
//! empirical samples. Values are in the unit of the field that holds them (milliseconds for
//! times). A bare number in a scenario is a constant.
//!
//! Sampling methods: inversion for the exponential, Box–Muller (one normal per two uniforms,
//! the second discarded so the draw count is fixed) for the normal and lognormal,
//! Marsaglia–Tsang (2000) for the gamma (with the `U^(1/k)` boost below k = 1), uniform
//! resampling for the empirical. Every sampler draws from the stream it is given only.

use serde::{Deserialize, Serialize};

use crate::rng::SimRng;

/// A distribution as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dist {
    /// A bare number: that value, always.
    Fixed(f64),
    /// A distribution with parameters.
    Param(Param),
}

/// The parametric forms (`{ dist = "gamma", shape = 2, mean = 5000, floor = 500 }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum Param {
    /// Always `value`.
    Constant {
        /// The value.
        value: f64,
    },
    /// Uniform on [low, high].
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Exponential with this mean.
    Exponential {
        /// The mean (1/rate).
        mean: f64,
    },
    /// Normal, truncated at `min` (default 0: times are never negative) by clamping.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
        /// Values below are clamped up to it.
        #[serde(default)]
        min: Option<f64>,
    },
    /// Lognormal: `exp(N(mu, sigma))`; `median` may replace `mu` (`mu = ln median`).
    Lognormal {
        /// Mean of the logarithm.
        #[serde(default)]
        mu: Option<f64>,
        /// Median (alternative to `mu`).
        #[serde(default)]
        median: Option<f64>,
        /// Standard deviation of the logarithm.
        sigma: f64,
    },
    /// Gamma with shape `shape` and mean `mean` (scale = mean / shape), then `max(floor, x)`.
    Gamma {
        /// Shape k.
        shape: f64,
        /// Mean k·θ.
        mean: f64,
        /// Smallest value (applied after drawing).
        #[serde(default)]
        floor: f64,
    },
    /// One of the samples, uniformly.
    Empirical {
        /// The samples (at least one).
        samples: Vec<f64>,
    },
}

/// A distribution's parameters are unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DistError(pub String);

/// A validated, ready sampler.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// Constant.
    Constant(f64),
    /// Uniform: low, width.
    Uniform(f64, f64),
    /// Exponential: mean.
    Exponential(f64),
    /// Normal: mean, sd, min.
    Normal(f64, f64, f64),
    /// Lognormal: mu, sigma.
    Lognormal(f64, f64),
    /// Gamma: shape, scale, floor, d, c (Marsaglia–Tsang constants for max(shape,1)).
    Gamma {
        /// Shape.
        shape: f64,
        /// Scale.
        scale: f64,
        /// Floor.
        floor: f64,
        /// d = a − 1/3 with a = shape (or shape+1 when shape < 1).
        d: f64,
        /// c = 1/√(9d).
        c: f64,
    },
    /// Empirical samples.
    Empirical(Vec<f64>),
}

fn finite(name: &str, v: f64) -> Result<f64, DistError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(DistError(format!("{name} must be a finite number, not {v}")))
    }
}

fn positive(name: &str, v: f64) -> Result<f64, DistError> {
    if finite(name, v)? > 0.0 {
        Ok(v)
    } else {
        Err(DistError(format!("{name} must be > 0, not {v}")))
    }
}

impl Dist {
    /// A constant.
    pub fn constant(v: f64) -> Self {
        Dist::Fixed(v)
    }

    /// Checks the parameters and builds the sampler.
    pub fn sampler(&self) -> Result<Sampler, DistError> {
        let p = match self {
            Dist::Fixed(v) => return Ok(Sampler::Constant(finite("value", *v)?)),
            Dist::Param(p) => p,
        };
        Ok(match p {
            Param::Constant { value } => Sampler::Constant(finite("value", *value)?),
            Param::Uniform { low, high } => {
                finite("low", *low)?;
                finite("high", *high)?;
                if high < low {
                    return Err(DistError(format!("uniform: high {high} < low {low}")));
                }
                Sampler::Uniform(*low, high - low)
            }
            Param::Exponential { mean } => Sampler::Exponential(positive("mean", *mean)?),
            Param::Normal { mean, sd, min } => {
                finite("mean", *mean)?;
                if finite("sd", *sd)? < 0.0 {
                    return Err(DistError(format!("sd must be ≥ 0, not {sd}")));
                }
                Sampler::Normal(*mean, *sd, finite("min", min.unwrap_or(0.0))?)
            }
            Param::Lognormal { mu, median, sigma } => {
                let mu = match (mu, median) {
                    (Some(m), None) => finite("mu", *m)?,
                    (None, Some(md)) => positive("median", *md)?.ln(),
                    _ => {
                        return Err(DistError(
                            "lognormal: give exactly one of mu and median".into(),
                        ));
                    }
                };
                if finite("sigma", *sigma)? < 0.0 {
                    return Err(DistError(format!("sigma must be ≥ 0, not {sigma}")));
                }
                Sampler::Lognormal(mu, *sigma)
            }
            Param::Gamma { shape, mean, floor } => {
                let shape = positive("shape", *shape)?;
                let mean = positive("mean", *mean)?;
                let floor = finite("floor", *floor)?;
                let a = if shape < 1.0 { shape + 1.0 } else { shape };
                let d = a - 1.0 / 3.0;
                Sampler::Gamma {
                    shape,
                    scale: mean / shape,
                    floor,
                    d,
                    c: 1.0 / (9.0 * d).sqrt(),
                }
            }
            Param::Empirical { samples } => {
                if samples.is_empty() {
                    return Err(DistError("empirical: no samples".into()));
                }
                for s in samples {
                    finite("sample", *s)?;
                }
                Sampler::Empirical(samples.clone())
            }
        })
    }
}

/// A standard normal from two uniforms (Box–Muller, cosine branch).
pub fn std_normal(rng: &mut SimRng) -> f64 {
    let u1 = rng.open01();
    let u2 = rng.open01();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

impl Sampler {
    /// One draw.
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        match self {
            Sampler::Constant(v) => *v,
            Sampler::Uniform(low, width) => low + width * rng.open01(),
            Sampler::Exponential(mean) => -mean * rng.open01().ln(),
            Sampler::Normal(mean, sd, min) => (mean + sd * std_normal(rng)).max(*min),
            Sampler::Lognormal(mu, sigma) => (mu + sigma * std_normal(rng)).exp(),
            Sampler::Gamma {
                shape,
                scale,
                floor,
                d,
                c,
            } => {
                let g = loop {
                    let x = std_normal(rng);
                    let v = 1.0 + c * x;
                    if v <= 0.0 {
                        continue;
                    }
                    let v = v * v * v;
                    let u = rng.open01();
                    if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                        break d * v;
                    }
                };
                let g = if *shape < 1.0 {
                    g * rng.open01().powf(1.0 / shape)
                } else {
                    g
                };
                (g * scale).max(*floor)
            }
            Sampler::Empirical(s) => s[rng.below(s.len() as u64) as usize],
        }
    }

    /// The mean of the distribution (before flooring/clamping, except for the constant,
    /// uniform and empirical forms, where it is exact).
    pub fn mean(&self) -> f64 {
        match self {
            Sampler::Constant(v) => *v,
            Sampler::Uniform(low, width) => low + width / 2.0,
            Sampler::Exponential(mean) => *mean,
            Sampler::Normal(mean, _, _) => *mean,
            Sampler::Lognormal(mu, sigma) => (mu + sigma * sigma / 2.0).exp(),
            Sampler::Gamma { shape, scale, .. } => shape * scale,
            Sampler::Empirical(s) => s.iter().sum::<f64>() / s.len() as f64,
        }
    }

    /// Samples in milliseconds as virtual nanoseconds (negative values count as 0).
    pub fn sample_ns(&self, rng: &mut SimRng) -> u64 {
        ms_to_ns(self.sample(rng))
    }
}

/// Milliseconds (f64) to nanoseconds, rounding to the nearest; negative or NaN is 0.
pub fn ms_to_ns(ms: f64) -> u64 {
    if ms > 0.0 {
        (ms * 1e6).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    //! Closed-form checks. Each uses n = 200,000 draws from a fixed seed (so the outcome is
    //! fixed too); tolerances are 5 standard errors of the estimator, computed from the
    //! distribution's own moments: a correct sampler fails with probability < 1e-6 per check
    //! over seeds, and a sampler with a wrong parameter (e.g. scale for rate, or k off by one)
    //! is off by far more than that.
    use super::*;
    use crate::rng::Streams;

    const N: usize = 200_000;

    fn draws(s: &Sampler, name: &str) -> Vec<f64> {
        let mut r = Streams::new(11).stream(name);
        (0..N).map(|_| s.sample(&mut r)).collect()
    }

    fn mean_var(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
        (m, v)
    }

    /// Asserts the sample mean within 5 SE of `mean` and the sample variance within 5 SE of
    /// `var` (SE of the variance from the fourth central moment `mu4`).
    fn check(x: &[f64], mean: f64, var: f64, mu4: f64) {
        let n = x.len() as f64;
        let (m, v) = mean_var(x);
        let se_m = (var / n).sqrt();
        assert!((m - mean).abs() < 5.0 * se_m, "mean {m} vs {mean} (se {se_m})");
        let se_v = ((mu4 - var * var) / n).sqrt();
        assert!((v - var).abs() < 5.0 * se_v, "variance {v} vs {var} (se {se_v})");
    }

    /// Asserts the empirical CDF at `q` is within 5 binomial SEs of `p`.
    fn check_quantile(x: &[f64], q: f64, p: f64) {
        let n = x.len() as f64;
        let below = x.iter().filter(|v| **v <= q).count() as f64 / n;
        let se = (p * (1.0 - p) / n).sqrt();
        assert!(
            (below - p).abs() < 5.0 * se,
            "P(X ≤ {q}) = {below}, expected {p} (se {se})"
        );
    }

    fn param(p: Param) -> Sampler {
        Dist::Param(p).sampler().expect("valid")
    }

    #[test]
    fn uniform_moments() {
        let s = param(Param::Uniform {
            low: 2.0,
            high: 6.0,
        });
        let x = draws(&s, "u");
        // Var = w²/12, µ4 = w⁴/80.
        check(&x, 4.0, 16.0 / 12.0, 256.0 / 80.0);
        check_quantile(&x, 3.0, 0.25);
    }

    #[test]
    fn exponential_moments_and_tail() {
        let s = param(Param::Exponential { mean: 3.0 });
        let x = draws(&s, "e");
        // Var = m², µ4 = 9 m⁴.
        check(&x, 3.0, 9.0, 9.0 * 81.0);
        // P(X ≤ m ln 100) = 0.99.
        check_quantile(&x, 3.0 * 100f64.ln(), 0.99);
    }

    #[test]
    fn normal_moments_and_tail() {
        let s = param(Param::Normal {
            mean: 10.0,
            sd: 2.0,
            min: Some(-1e9),
        });
        let x = draws(&s, "n");
        check(&x, 10.0, 4.0, 3.0 * 16.0);
        // z = 2.326348 is the 0.99 quantile.
        check_quantile(&x, 10.0 + 2.0 * 2.326_348, 0.99);
    }

    #[test]
    fn lognormal_median_mean_and_tail() {
        let (mu, sigma) = (1.0f64, 0.5f64);
        let s = param(Param::Lognormal {
            mu: Some(mu),
            median: None,
            sigma,
        });
        let x = draws(&s, "l");
        let mean = (mu + sigma * sigma / 2.0).exp();
        let var = ((sigma * sigma).exp() - 1.0) * (2.0 * mu + sigma * sigma).exp();
        // Fourth central moment of the lognormal: e^{4µ+2σ²}(e^{6σ²} − 4e^{3σ²} + 6e^{σ²} − 3)... use
        // the raw-moment form E[X^k] = e^{kµ + k²σ²/2}.
        let r = |k: f64| (k * mu + k * k * sigma * sigma / 2.0).exp();
        let mu4 = r(4.0) - 4.0 * mean * r(3.0) + 6.0 * mean * mean * r(2.0) - 3.0 * mean.powi(4);
        check(&x, mean, var, mu4);
        check_quantile(&x, mu.exp(), 0.5);
        check_quantile(&x, (mu + sigma * 2.326_348).exp(), 0.99);
    }

    #[test]
    fn gamma_moments_and_tail() {
        // k = 2, mean 5000 ms: the RSA-2048 keygen model of card-timings.md.
        let s = param(Param::Gamma {
            shape: 2.0,
            mean: 5000.0,
            floor: 0.0,
        });
        let x = draws(&s, "g");
        let theta = 2500.0f64;
        // Var = kθ², µ4 = 3k(k+2)θ⁴.
        check(&x, 5000.0, 2.0 * theta * theta, 3.0 * 2.0 * 4.0 * theta.powi(4));
        // For k = 2: P(X ≤ x) = 1 − e^{−x/θ}(1 + x/θ); at x = θ·6.638352: 0.99.
        check_quantile(&x, theta * 6.638_352, 0.99);
        check_quantile(&x, theta * 1.678_347, 0.5);
    }

    #[test]
    fn gamma_below_one_and_floor() {
        let s = param(Param::Gamma {
            shape: 0.5,
            mean: 1.0,
            floor: 0.0,
        });
        let x = draws(&s, "g05");
        // θ = 2: Var = kθ² = 2, µ4 = 3k(k+2)θ⁴ = 60.
        check(&x, 1.0, 2.0, 60.0);
        let f = param(Param::Gamma {
            shape: 2.0,
            mean: 5000.0,
            floor: 500.0,
        });
        let y = draws(&f, "gf");
        assert!(y.iter().all(|v| *v >= 500.0));
        // P(X ≤ 500) for k = 2, θ = 2500: 1 − e^{−0.2}·1.2 = 0.017523; all of it sits at 500.
        let at_floor = y.iter().filter(|v| **v == 500.0).count() as f64 / N as f64;
        let p = 1.0 - (-0.2f64).exp() * 1.2;
        assert!((at_floor - p).abs() < 5.0 * (p * (1.0 - p) / N as f64).sqrt());
    }

    #[test]
    fn empirical_resamples_uniformly() {
        let s = param(Param::Empirical {
            samples: vec![1.0, 2.0, 3.0, 10.0],
        });
        let x = draws(&s, "emp");
        // Mean 4, Var = E[X²] − 16 = (1+4+9+100)/4 − 16 = 12.5.
        let mu4 = [1.0f64, 2.0, 3.0, 10.0]
            .iter()
            .map(|v| (v - 4.0).powi(4))
            .sum::<f64>()
            / 4.0;
        check(&x, 4.0, 12.5 * 4.0 / 4.0, mu4);
    }

    #[test]
    fn bad_parameters_are_refused() {
        for p in [
            Param::Exponential { mean: 0.0 },
            Param::Uniform {
                low: 2.0,
                high: 1.0,
            },
            Param::Gamma {
                shape: -1.0,
                mean: 1.0,
                floor: 0.0,
            },
            Param::Empirical { samples: vec![] },
            Param::Lognormal {
                mu: Some(1.0),
                median: Some(1.0),
                sigma: 1.0,
            },
        ] {
            assert!(Dist::Param(p).sampler().is_err());
        }
        assert!(Dist::Fixed(f64::NAN).sampler().is_err());
    }

    #[test]
    fn scenario_forms_parse() {
        #[derive(Deserialize)]
        struct T {
            a: Dist,
            b: Dist,
        }
        let t: T = toml::from_str("a = 3.5\nb = { dist = \"gamma\", shape = 2, mean = 5000, floor = 500 }")
            .expect("parses");
        assert_eq!(t.a.sampler(), Ok(Sampler::Constant(3.5)));
        assert!(matches!(t.b.sampler(), Ok(Sampler::Gamma { .. })));
    }
}
