//! Where the Taegis XDR APIs live: the seed's four regions, or a custom endpoint.

use crate::Error;
use logferry_http::IngestUrl;
use std::fmt;
use std::str::FromStr;

/// The region a Taegis XDR tenant is deployed in, which decides the API endpoint.
///
/// From `taegis-file-upload-api.txt`: "The URL to access Taegis™ XDR APIs may differ
/// according to the region your environment is deployed in:
///
/// - US1— `https://api.ctpx.secureworks.com`
/// - US2— `https://api.delta.taegis.secureworks.com`
/// - US3— `https://api.foxtrot.taegis.secureworks.com`
/// - EU— `https://api.echo.taegis.secureworks.com`"
///
/// [`Region::Custom`] takes any other endpoint (a proxy, the emulator): `https://`, or
/// `http://` on a loopback host only, as [`IngestUrl`] enforces.
///
/// Names parse case-insensitively; anything containing `://` parses as a custom endpoint:
///
/// ```
/// use logferry_taegis_upload::Region;
/// let us2: Region = "us2".parse().unwrap();
/// assert_eq!(us2, Region::Us2);
/// assert_eq!(us2.endpoint().to_string(), "https://api.delta.taegis.secureworks.com/");
/// let custom: Region = "https://127.0.0.1:8443".parse().unwrap();
/// assert!(matches!(custom, Region::Custom(_)));
/// assert!("http://api.example.com".parse::<Region>().is_err());
/// assert!("mars".parse::<Region>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Region {
    /// US1: `https://api.ctpx.secureworks.com` (the seed's examples use it "throughout").
    Us1,
    /// US2: `https://api.delta.taegis.secureworks.com`.
    Us2,
    /// US3: `https://api.foxtrot.taegis.secureworks.com`.
    Us3,
    /// EU: `https://api.echo.taegis.secureworks.com`.
    Eu,
    /// Another endpoint; the API paths are appended below its path.
    Custom(IngestUrl),
}

impl Region {
    /// The seed's regions, in its order.
    pub const NAMED: [Region; 4] = [Region::Us1, Region::Us2, Region::Us3, Region::Eu];

    /// The API endpoint.
    pub fn endpoint(&self) -> IngestUrl {
        let host = match self {
            Region::Us1 => "https://api.ctpx.secureworks.com",
            Region::Us2 => "https://api.delta.taegis.secureworks.com",
            Region::Us3 => "https://api.foxtrot.taegis.secureworks.com",
            Region::Eu => "https://api.echo.taegis.secureworks.com",
            Region::Custom(url) => return url.clone(),
        };
        IngestUrl::parse(host).expect("the seed's endpoints are valid https URLs")
    }

    /// `US1`, `US2`, `US3`, `EU`, or `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            Region::Us1 => "US1",
            Region::Us2 => "US2",
            Region::Us3 => "US3",
            Region::Eu => "EU",
            Region::Custom(_) => "custom",
        }
    }
}

impl FromStr for Region {
    type Err = Error;

    fn from_str(s: &str) -> Result<Region, Error> {
        let s = s.trim();
        if s.contains("://") {
            return IngestUrl::parse(s)
                .map(Region::Custom)
                .map_err(Error::InvalidEndpoint);
        }
        Region::NAMED
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownRegion {
                name: s.chars().take(100).collect(),
            })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Custom(url) => write!(f, "{url}"),
            named => f.write_str(named.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_round_trip() {
        for region in Region::NAMED {
            for text in [region.name().to_owned(), region.name().to_ascii_lowercase()] {
                assert_eq!(text.parse::<Region>().unwrap(), region);
            }
            assert_eq!(region.to_string().parse::<Region>().unwrap(), region);
            assert!(region.endpoint().is_https());
        }
        assert_eq!(" eu ".parse::<Region>().unwrap(), Region::Eu);
    }

    #[test]
    fn endpoints_are_the_seeds() {
        let hosts: Vec<String> = Region::NAMED
            .iter()
            .map(|r| r.endpoint().host().to_owned())
            .collect();
        assert_eq!(
            hosts,
            [
                "api.ctpx.secureworks.com",
                "api.delta.taegis.secureworks.com",
                "api.foxtrot.taegis.secureworks.com",
                "api.echo.taegis.secureworks.com"
            ]
        );
    }

    #[test]
    fn unknown_names_and_unsafe_urls_are_refused() {
        assert_eq!(
            "us4".parse::<Region>().unwrap_err().to_string(),
            "unknown region `us4`: expected US1, US2, US3, EU or an https:// API URL"
        );
        let err = "http://api.example.com".parse::<Region>().unwrap_err();
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            cause.is_some_and(|c| c.contains("only for loopback")),
            "{err:?}"
        );
        let custom: Region = "http://localhost:9000/prefix".parse().unwrap();
        assert_eq!(custom.to_string(), "http://localhost:9000/prefix");
    }
}
