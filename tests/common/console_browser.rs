//! The console in headless Chromium, for tests/console_wizard.rs: a tab on the console's page
//! with the page-side driver (tests/console/driver.js, `window.tgTest`) evaluated into it, each
//! step awaited and followed by a screenshot in `target/console-screenshots/` (not committed;
//! for looking at what the test saw).

use std::path::PathBuf;

use serde_json::Value;

use super::chromium::{Chromium, Tab};

/// Finds controls by their label or text, as a user would; waits (bounded) for what a page shows.
const DRIVER_JS: &str = include_str!("../console/driver.js");

/// A browser with one tab on the console.
pub struct ConsoleBrowser {
    pub chromium: Chromium,
    pub tab: Tab,
    shots: PathBuf,
    /// Numbers the screenshots in the order of the steps.
    step: usize,
}

impl ConsoleBrowser {
    /// Opens `url` (the console) in a fresh headless Chromium; screenshots go to
    /// `target/console-screenshots/<test>/`.
    pub fn open(url: &str, test: &str) -> ConsoleBrowser {
        let mut chromium = Chromium::start(&["--window-size=1280,900".to_owned()]);
        let tab = chromium
            .open(url)
            .unwrap_or_else(|err| panic!("{err}\n{}", chromium.log()));
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/console-screenshots")
            .join(test);
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        ConsoleBrowser {
            chromium,
            tab,
            shots,
            step: 0,
        }
    }

    /// Runs `expression` (usually a `tgTest` chain) in the page, awaits it, takes the step's
    /// screenshot named `name`, and returns its value; panics with the page's log when it fails.
    pub fn step(&mut self, name: &str, expression: &str) -> Value {
        // Evaluated each time: a step may have navigated.
        let installed = self.chromium.evaluate(&self.tab, DRIVER_JS);
        let result = installed.and_then(|_| self.chromium.evaluate(&self.tab, expression));
        self.step += 1;
        let shot = self.shots.join(format!("{:02}-{name}.png", self.step));
        let _ = self.chromium.screenshot(&self.tab, &shot);
        match result {
            Ok(value) => value,
            Err(err) => panic!(
                "step {name} failed: {err}\nscreenshot: {}\npage log:\n{}",
                shot.display(),
                self.chromium.log()
            ),
        }
    }

    /// Signs in with `token` on the sign-in page (the step `name`) and waits for the APIs list.
    pub fn sign_in(&mut self, name: &str, token: &str) {
        self.step(
            name,
            &format!(
                "tgTest.fill('Admin token', '{token}').then(() => tgTest.click('Sign in'))
                   .then(() => tgTest.heading('APIs'))"
            ),
        );
    }

    /// Console messages, exceptions and network errors so far.
    pub fn log(&self) -> String {
        self.chromium.log()
    }
}
