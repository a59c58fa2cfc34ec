//! Which Microsoft cloud a run talks to: the API host, the sign-in (authority) host and the
//! token scope, chosen together by `--cloud`/`--region` and overridden one by one by
//! `--base-url`, `--authority-host` and `--scope`.
//!
//! The hosts come from Microsoft's Defender for Endpoint documentation (see API-FACTS.md).
//! The scope of the government clouds is not documented anywhere we could find: GCC signs in
//! at the commercial Entra ID, where the `WindowsDefenderATP` application lives, so it keeps the
//! commercial scope; GCC High and DoD use the scope a public client uses. Both can be overridden.

use std::fmt;

use clap::ValueEnum;
use reqwest::Url;

use crate::error::{Error, Result};

/// The commercial API, and the scope every commercial and regional token is asked for.
pub const PUBLIC_API: &str = "https://api.securitycenter.microsoft.com";
pub const PUBLIC_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";
const PUBLIC_LOGIN: &str = "https://login.microsoftonline.com";
const GOV_LOGIN: &str = "https://login.microsoftonline.us";
/// Unconfirmed (see the module docs): overridable with `--scope`.
const GOV_SCOPE: &str = "https://securitycenter.onmicrosoft.us/windowsatpservice/.default";

/// A Microsoft cloud hosting Defender for Endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Cloud {
    /// Commercial (worldwide)
    #[default]
    Public,
    /// US Government Community Cloud
    Gcc,
    /// US Government Community Cloud High
    #[value(name = "gcc-high")]
    GccHigh,
    /// US Department of Defense
    Dod,
}

/// A regional host of the commercial API (data stays in the region).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    Us,
    Eu,
    Uk,
    Au,
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            self.to_possible_value()
                .expect("no skipped value")
                .get_name(),
        )
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            self.to_possible_value()
                .expect("no skipped value")
                .get_name(),
        )
    }
}

/// The three places a run needs, as strings until `resolve` validates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    pub api: String,
    pub authority: String,
    pub scope: String,
}

impl Cloud {
    /// The cloud's hosts; a region only exists in the public cloud.
    pub fn hosts(self, region: Option<Region>) -> Result<Hosts> {
        let (api, authority, scope) = match (self, region) {
            (Cloud::Public, None) => (PUBLIC_API.to_owned(), PUBLIC_LOGIN, PUBLIC_SCOPE),
            (Cloud::Public, Some(r)) => (
                format!("https://api-{r}.securitycenter.microsoft.com"),
                PUBLIC_LOGIN,
                PUBLIC_SCOPE,
            ),
            (Cloud::Gcc, None) => (
                "https://api-gcc.securitycenter.microsoft.us".to_owned(),
                PUBLIC_LOGIN,
                PUBLIC_SCOPE,
            ),
            (Cloud::GccHigh | Cloud::Dod, None) => (
                "https://api-gov.securitycenter.microsoft.us".to_owned(),
                GOV_LOGIN,
                GOV_SCOPE,
            ),
            (cloud, Some(r)) => {
                return Err(Error::Usage(format!(
                    "--region {r} is a host of the public cloud; --cloud {cloud} has no regions"
                )));
            }
        };
        Ok(Hosts {
            api,
            authority: authority.to_owned(),
            scope: scope.to_owned(),
        })
    }
}

/// Where a run connects and what it asks a token for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub api: Url,
    pub authority: Url,
    pub scope: String,
}

/// What the user typed, or the environment set, to replace a cloud's defaults.
#[derive(Debug, Clone, Default)]
pub struct Overrides<'a> {
    pub base_url: Option<&'a str>,
    pub authority_host: Option<&'a str>,
    pub scope: Option<&'a str>,
}

/// The cloud's hosts with every override applied, each checked: the API may be http on this
/// machine only (as before), the sign-in host must be https (a client secret is sent to it).
pub fn resolve(cloud: Cloud, region: Option<Region>, o: &Overrides<'_>) -> Result<Endpoints> {
    let hosts = cloud.hosts(region)?;
    let api = crate::config::check_base_url(o.base_url.unwrap_or(&hosts.api))?;
    let raw = o.authority_host.unwrap_or(&hosts.authority).trim();
    let authority = Url::parse(raw)
        .map_err(|e| Error::Usage(format!("invalid authority host '{raw}': {e}")))?;
    if authority.scheme() != "https" {
        return Err(Error::Usage(format!(
            "refusing authority host '{raw}': sign-in is only done over https"
        )));
    }
    let scope = o.scope.unwrap_or(&hosts.scope).trim();
    if scope.is_empty() || scope.contains(char::is_whitespace) {
        return Err(Error::Usage(format!(
            "invalid scope '{scope}': one scope, e.g. {PUBLIC_SCOPE}"
        )));
    }
    Ok(Endpoints {
        api,
        authority,
        scope: scope.to_owned(),
    })
}

/// The table `export --help` shows, built from the mapping itself so the two cannot drift
/// apart; scopes are listed below it, as they would not fit a terminal's width beside the hosts.
pub fn table() -> String {
    let mut rows: Vec<(String, Hosts)> = Vec::new();
    for cloud in Cloud::value_variants() {
        rows.push((cloud.to_string(), cloud.hosts(None).expect("no region")));
    }
    for region in Region::value_variants() {
        let hosts = Cloud::Public.hosts(Some(*region)).expect("public region");
        rows.push((format!("--region {region}"), hosts));
    }
    let host = |s: &str| s.trim_start_matches("https://").to_owned();
    let width = rows
        .iter()
        .map(|(_, h)| host(&h.api).len())
        .max()
        .unwrap_or(0);
    let mut out = String::from(
        "Hosts by --cloud/--region: API, sign-in (--base-url, --authority-host override):\n",
    );
    for (name, h) in &rows {
        let (api, login) = (host(&h.api), host(&h.authority));
        out.push_str(&format!("  {name:<12} {api:<width$}  {login}\n"));
    }
    out.push_str("Default scopes (--scope overrides):\n");
    let mut scopes: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, h) in &rows {
        match scopes.iter_mut().find(|(s, _)| *s == h.scope) {
            Some((_, names)) => names.push(name),
            None => scopes.push((&h.scope, vec![name])),
        }
    }
    for (scope, names) in scopes {
        let mut clouds: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.starts_with("--"))
            .collect();
        if clouds.len() < names.len() {
            clouds.push("the regions");
        }
        out.push_str(&format!("  {}:\n    {scope}\n", clouds.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(cloud: Cloud, region: Option<Region>) -> (String, String, String) {
        let e = resolve(cloud, region, &Overrides::default()).unwrap();
        (e.api.to_string(), e.authority.to_string(), e.scope)
    }

    #[test]
    fn clouds_map_to_their_documented_hosts() {
        let public = "https://api.securitycenter.microsoft.com/.default".to_owned();
        assert_eq!(
            hosts(Cloud::Public, None),
            (
                "https://api.securitycenter.microsoft.com/".into(),
                "https://login.microsoftonline.com/".into(),
                public.clone()
            )
        );
        assert_eq!(
            hosts(Cloud::Gcc, None),
            (
                "https://api-gcc.securitycenter.microsoft.us/".into(),
                "https://login.microsoftonline.com/".into(),
                public.clone()
            )
        );
        for gov in [Cloud::GccHigh, Cloud::Dod] {
            let (api, login, scope) = hosts(gov, None);
            assert_eq!(api, "https://api-gov.securitycenter.microsoft.us/");
            assert_eq!(login, "https://login.microsoftonline.us/");
            assert_ne!(
                scope, public,
                "a government cloud has its own default scope"
            );
        }
    }

    #[test]
    fn regions_pick_the_regional_public_host() {
        for (region, host) in [
            (Region::Us, "https://api-us.securitycenter.microsoft.com/"),
            (Region::Eu, "https://api-eu.securitycenter.microsoft.com/"),
            (Region::Uk, "https://api-uk.securitycenter.microsoft.com/"),
            (Region::Au, "https://api-au.securitycenter.microsoft.com/"),
        ] {
            let (api, login, _) = hosts(Cloud::Public, Some(region));
            assert_eq!(
                (api.as_str(), login.as_str()),
                (host, "https://login.microsoftonline.com/")
            );
        }
        let e = resolve(Cloud::Dod, Some(Region::Eu), &Overrides::default()).unwrap_err();
        assert!(
            matches!(e, Error::Usage(ref m) if m.contains("--region eu")),
            "{e}"
        );
    }

    #[test]
    fn overrides_win_over_cloud_and_region() {
        let o = Overrides {
            base_url: Some("https://gateway.example:8443/defender"),
            authority_host: Some("https://login.example"),
            scope: Some("api://custom/.default"),
        };
        let e = resolve(Cloud::GccHigh, None, &o).unwrap();
        assert_eq!(e.api.as_str(), "https://gateway.example:8443/defender");
        assert_eq!(e.authority.as_str(), "https://login.example/");
        assert_eq!(e.scope, "api://custom/.default");
        let only_scope = Overrides {
            scope: Some("x/.default"),
            ..Overrides::default()
        };
        let e = resolve(Cloud::Public, Some(Region::Eu), &only_scope).unwrap();
        assert_eq!(
            e.api.as_str(),
            "https://api-eu.securitycenter.microsoft.com/"
        );
        assert_eq!(e.scope, "x/.default");
    }

    #[test]
    fn clear_text_sign_in_and_odd_scopes_are_refused() {
        let bad_authority = Overrides {
            authority_host: Some("http://login.example"),
            ..Overrides::default()
        };
        assert!(matches!(
            resolve(Cloud::Public, None, &bad_authority),
            Err(Error::Usage(_))
        ));
        let two_scopes = Overrides {
            scope: Some("a/.default b/.default"),
            ..Overrides::default()
        };
        assert!(matches!(
            resolve(Cloud::Public, None, &two_scopes),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn the_help_table_lists_every_cloud_and_region() {
        let t = table();
        for needle in [
            "public",
            "gcc-high",
            "dod",
            "--region au",
            "api-gcc.securitycenter.microsoft.us",
            "login.microsoftonline.us",
            "gcc-high, dod:\n    https://securitycenter.onmicrosoft.us/windowsatpservice/.default",
        ] {
            assert!(t.contains(needle), "{needle} missing from\n{t}");
        }
        // It must fit an 80-column terminal, or clap wraps it into a mess.
        assert!(t.lines().all(|l| l.len() <= 80), "{t}");
    }
}
