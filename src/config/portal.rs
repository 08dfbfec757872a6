//! `management.portal`: the developer portal's bounds on what anonymous callers may create. A
//! subscription request needs no sign-in and creates an application, so both the total
//! (`maxApplications`) and each client address's rate (`writesPerMinute`) are bounded.
//!
//! ```yaml
//! management:
//!   portal: { maxApplications: 1000, writesPerMinute: 10 }
//! ```

use serde::Deserialize;

use super::problem::Problems;

/// Applications the developer portal may create unless told otherwise.
pub(super) const DEFAULT_PORTAL_MAX_APPLICATIONS: usize = 1000;
/// Portal subscription requests one client address may make per minute unless told otherwise:
/// enough for a person trying a few plans, far too few to fill the store.
pub(super) const DEFAULT_PORTAL_WRITES_PER_MINUTE: u32 = 10;
/// Bounds on the portal's numbers (0 applications: the portal hands out no keys).
const PORTAL_MAX_APPLICATIONS_RANGE: (usize, usize) = (0, 1_000_000);
const PORTAL_WRITES_PER_MINUTE_RANGE: (u32, u32) = (1, 100_000);

/// The developer portal's bounds on what anonymous callers may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortalConfig {
    /// Applications the portal may create in all (`maxApplications`).
    pub max_applications: usize,
    /// Subscription requests per minute from one client address (`writesPerMinute`).
    pub writes_per_minute: u32,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            max_applications: DEFAULT_PORTAL_MAX_APPLICATIONS,
            writes_per_minute: DEFAULT_PORTAL_WRITES_PER_MINUTE,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    default,
    expecting = "the portal mapping (maxApplications, writesPerMinute)"
)]
pub(super) struct RawPortal {
    max_applications: usize,
    writes_per_minute: u32,
}

impl Default for RawPortal {
    fn default() -> Self {
        let defaults = PortalConfig::default();
        RawPortal {
            max_applications: defaults.max_applications,
            writes_per_minute: defaults.writes_per_minute,
        }
    }
}

/// Validates `management.portal`.
pub(super) fn read_portal(raw: &RawPortal, p: &mut Problems) -> PortalConfig {
    let (min, max) = PORTAL_MAX_APPLICATIONS_RANGE;
    if !(min..=max).contains(&raw.max_applications) {
        p.push(
            "management.portal.maxApplications",
            format!(
                "{} is out of range; give {min} to {max} (0: the portal creates no applications)",
                raw.max_applications
            ),
        );
    }
    let (min, max) = PORTAL_WRITES_PER_MINUTE_RANGE;
    if !(min..=max).contains(&raw.writes_per_minute) {
        p.push(
            "management.portal.writesPerMinute",
            format!("{} is out of range; give {min} to {max} subscription requests per minute and client address", raw.writes_per_minute),
        );
    }
    PortalConfig {
        max_applications: raw.max_applications,
        writes_per_minute: raw.writes_per_minute,
    }
}
