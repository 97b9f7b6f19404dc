//! Prices, in credits: what a run costs ([`charge`]), what a job reserves when it is
//! accepted ([`reservation`]) and what it must hold before each dearer step
//! ([`step_price`]). The invariant: no step runs unless the job's reservation covers the
//! price of the run so far including that step, so settlement only refunds, and a charge
//! is never cut short by a balance that cannot cover a difference.
//!
//! The rule: a job reserves the price of the engine it starts on (an `auto` job whose
//! options need a browser starts in the browser) with the captures it asked for. A step
//! that costs more than that (an `auto` job escalating to the browser or to stealth,
//! starting where its organization's history says, or a CAPTCHA solve) first raises the
//! reservation to the run's price with that step (core's `Db::reserve_up_to`); when the
//! organization cannot cover the difference the step is not taken. Settlement charges the
//! price of what ran and refunds the rest.

use super::{Engine, JobOptions, ProxyTier};

/// Credits for the engine a page was fetched with.
pub const fn engine_credits(engine: Engine) -> i64 {
    match engine {
        // An auto job is charged by the engine it ran on; this is its first stage.
        Engine::Http | Engine::Auto => 1,
        Engine::Browser => 5,
        Engine::Stealth => 10,
    }
}

/// Credits for the proxy network.
pub const fn tier_credits(tier: ProxyTier) -> i64 {
    match tier {
        ProxyTier::Datacenter => 0,
        ProxyTier::Residential => 3,
        ProxyTier::Mobile => 10,
        ProxyTier::Isp => 5,
    }
}

/// A screenshot: the job's full-page one, or one taken by an action.
pub const SCREENSHOT_CREDITS: i64 = 2;
/// A PDF print.
pub const PDF_CREDITS: i64 = 3;
/// A CAPTCHA the solver solved (an attempt that failed is not charged).
pub const CAPTCHA_SOLVE_CREDITS: i64 = 10;

/// What happened in a run, as far as its price goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The engine that produced the result (for `auto`, the stage it ended on).
    pub engine: Engine,
    pub captcha_solved: bool,
}

/// The price of a run: its engine, its proxy tier, the captures asked for, and a solved
/// CAPTCHA.
pub fn charge(tier: ProxyTier, options: &JobOptions, run: Run) -> i64 {
    let mut credits = engine_credits(run.engine) + tier_credits(tier);
    // Each screenshot, the job's own and every one its actions take.
    let shots = i64::try_from(options.screenshots()).unwrap_or(i64::MAX);
    credits = credits.saturating_add(SCREENSHOT_CREDITS.saturating_mul(shots));
    if options.pdf {
        credits += PDF_CREDITS;
    }
    if run.captcha_solved {
        credits += CAPTCHA_SOLVE_CREDITS;
    }
    credits
}

/// What a job reserves when it is accepted: the price of a run on the engine it starts on.
pub fn reservation(engine: Engine, tier: ProxyTier, options: &JobOptions) -> i64 {
    charge(
        tier,
        options,
        Run {
            engine: engine.starting(options),
            captcha_solved: false,
        },
    )
}

/// What a job must have reserved before it runs `run` (a dearer engine, a CAPTCHA solve):
/// the price of that run.
pub fn step_price(tier: ProxyTier, options: &JobOptions, run: Run) -> i64 {
    charge(tier, options, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGINES: [Engine; 4] = [Engine::Auto, Engine::Http, Engine::Browser, Engine::Stealth];
    const TIERS: [ProxyTier; 4] = [
        ProxyTier::Datacenter,
        ProxyTier::Residential,
        ProxyTier::Mobile,
        ProxyTier::Isp,
    ];

    fn option_sets() -> Vec<JobOptions> {
        let mut sets = Vec::new();
        for render_js in [false, true] {
            for screenshot in [false, true] {
                for pdf in [false, true] {
                    for wait_for in [None, Some("#app".to_owned())] {
                        sets.push(JobOptions {
                            render_js,
                            screenshot,
                            pdf,
                            wait_for,
                            ..JobOptions::default()
                        });
                    }
                }
            }
        }
        sets
    }

    #[test]
    fn a_job_s_reservation_covers_its_starting_run_and_no_more() {
        for engine in ENGINES {
            for tier in TIERS {
                for options in option_sets() {
                    let start = Run {
                        engine: engine.starting(&options),
                        captcha_solved: false,
                    };
                    assert_eq!(
                        reservation(engine, tier, &options),
                        step_price(tier, &options, start),
                        "{engine} {tier} {options:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_dearer_step_is_priced_above_the_run_before_it() {
        for tier in TIERS {
            for options in option_sets() {
                let price = |engine, captcha_solved| {
                    step_price(
                        tier,
                        &options,
                        Run {
                            engine,
                            captcha_solved,
                        },
                    )
                };
                assert!(price(Engine::Http, false) < price(Engine::Browser, false));
                assert!(price(Engine::Browser, false) < price(Engine::Stealth, false));
                assert!(price(Engine::Browser, false) < price(Engine::Browser, true));
                assert!(price(Engine::Stealth, false) < price(Engine::Stealth, true));
            }
        }
    }

    #[test]
    fn an_auto_job_needing_a_browser_reserves_at_least_the_browser_price() {
        let options = JobOptions {
            render_js: true,
            screenshot: true,
            ..JobOptions::default()
        };
        let browser = Run {
            engine: Engine::Browser,
            captcha_solved: false,
        };
        assert_eq!(charge(ProxyTier::Datacenter, &options, browser), 7);
        assert_eq!(
            reservation(Engine::Auto, ProxyTier::Datacenter, &options),
            7
        );
        let render_only = JobOptions {
            render_js: true,
            ..JobOptions::default()
        };
        assert_eq!(
            reservation(Engine::Auto, ProxyTier::Datacenter, &render_only),
            5
        );
    }

    #[test]
    fn a_run_is_charged_for_its_engine_tier_captures_and_solved_captcha() {
        let options = JobOptions {
            screenshot: true,
            pdf: true,
            ..JobOptions::default()
        };
        let run = Run {
            engine: Engine::Browser,
            captcha_solved: true,
        };
        assert_eq!(
            charge(ProxyTier::Residential, &options, run),
            5 + 3 + SCREENSHOT_CREDITS + PDF_CREDITS + CAPTCHA_SOLVE_CREDITS
        );
        let plain = Run {
            engine: Engine::Http,
            captcha_solved: false,
        };
        assert_eq!(
            charge(ProxyTier::Datacenter, &JobOptions::default(), plain),
            1
        );
    }

    #[test]
    fn a_plain_auto_job_reserves_the_http_price() {
        assert_eq!(
            reservation(Engine::Auto, ProxyTier::Datacenter, &JobOptions::default()),
            1
        );
    }

    #[test]
    fn each_screenshot_an_action_takes_costs_like_the_job_s_own() {
        let options = JobOptions {
            screenshot: true,
            actions: vec![
                crate::domain::Action::Screenshot { full_page: false },
                crate::domain::Action::Scrape,
                crate::domain::Action::Screenshot { full_page: true },
            ],
            ..JobOptions::default()
        };
        let run = Run {
            engine: Engine::Browser,
            captcha_solved: false,
        };
        assert_eq!(
            charge(ProxyTier::Datacenter, &options, run),
            5 + 3 * SCREENSHOT_CREDITS
        );
        assert_eq!(
            reservation(Engine::Auto, ProxyTier::Datacenter, &options),
            5 + 3 * SCREENSHOT_CREDITS,
            "actions start an auto job in the browser"
        );
    }
}
