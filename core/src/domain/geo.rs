//! Where a proxy's country places a browser: the timezone a person there would have, so the
//! stealth engine's clock agrees with the address a site sees. Countries spanning several
//! zones get their most populous one; a country not listed keeps the fingerprint's own. The
//! country's main language is here too, for the languages a location claims by default.

/// The timezone of a person browsing from `country` (ISO 3166-1 alpha-2, any case).
pub fn country_timezone(country: &str) -> Option<&'static str> {
    let zone = match country.to_ascii_uppercase().as_str() {
        "US" => "America/New_York",
        "CA" => "America/Toronto",
        "MX" => "America/Mexico_City",
        "BR" => "America/Sao_Paulo",
        "AR" => "America/Argentina/Buenos_Aires",
        "CL" => "America/Santiago",
        "CO" => "America/Bogota",
        "GB" => "Europe/London",
        "IE" => "Europe/Dublin",
        "FR" => "Europe/Paris",
        "DE" => "Europe/Berlin",
        "AT" => "Europe/Vienna",
        "CH" => "Europe/Zurich",
        "NL" => "Europe/Amsterdam",
        "BE" => "Europe/Brussels",
        "ES" => "Europe/Madrid",
        "PT" => "Europe/Lisbon",
        "IT" => "Europe/Rome",
        "SE" => "Europe/Stockholm",
        "NO" => "Europe/Oslo",
        "DK" => "Europe/Copenhagen",
        "FI" => "Europe/Helsinki",
        "PL" => "Europe/Warsaw",
        "CZ" => "Europe/Prague",
        "RO" => "Europe/Bucharest",
        "GR" => "Europe/Athens",
        "UA" => "Europe/Kyiv",
        "TR" => "Europe/Istanbul",
        "RU" => "Europe/Moscow",
        "IL" => "Asia/Jerusalem",
        "AE" => "Asia/Dubai",
        "SA" => "Asia/Riyadh",
        "IN" => "Asia/Kolkata",
        "SG" => "Asia/Singapore",
        "HK" => "Asia/Hong_Kong",
        "CN" => "Asia/Shanghai",
        "TW" => "Asia/Taipei",
        "JP" => "Asia/Tokyo",
        "KR" => "Asia/Seoul",
        "TH" => "Asia/Bangkok",
        "VN" => "Asia/Ho_Chi_Minh",
        "ID" => "Asia/Jakarta",
        "PH" => "Asia/Manila",
        "MY" => "Asia/Kuala_Lumpur",
        "AU" => "Australia/Sydney",
        "NZ" => "Pacific/Auckland",
        "ZA" => "Africa/Johannesburg",
        "EG" => "Africa/Cairo",
        "NG" => "Africa/Lagos",
        "KE" => "Africa/Nairobi",
        _ => return None,
    };
    Some(zone)
}

/// The main language (ISO 639-1) of a person browsing from `country` (ISO 3166-1 alpha-2,
/// upper case); None for a country not listed.
pub fn country_language(country: &str) -> Option<&'static str> {
    let lang = match country {
        "US" | "GB" | "IE" | "AU" | "NZ" | "CA" | "SG" | "ZA" | "NG" | "KE" | "IN" | "PH" => "en",
        "FR" | "BE" => "fr",
        "DE" | "AT" | "CH" => "de",
        "ES" | "MX" | "AR" | "CL" | "CO" => "es",
        "PT" | "BR" => "pt",
        "IT" => "it",
        "NL" => "nl",
        "SE" => "sv",
        "NO" => "nb",
        "DK" => "da",
        "FI" => "fi",
        "PL" => "pl",
        "CZ" => "cs",
        "RO" => "ro",
        "GR" => "el",
        "UA" => "uk",
        "TR" => "tr",
        "RU" => "ru",
        "IL" => "he",
        "AE" | "SA" | "EG" => "ar",
        "HK" | "CN" | "TW" => "zh",
        "JP" => "ja",
        "KR" => "ko",
        "TH" => "th",
        "VN" => "vi",
        "ID" => "id",
        "MY" => "ms",
        _ => return None,
    };
    Some(lang)
}

#[cfg(test)]
mod tests {
    use super::{country_language, country_timezone};

    #[test]
    fn every_country_with_a_timezone_has_a_language() {
        for c in [
            "US", "CA", "MX", "BR", "AR", "CL", "CO", "GB", "IE", "FR", "DE", "AT", "CH", "NL",
            "BE", "ES", "PT", "IT", "SE", "NO", "DK", "FI", "PL", "CZ", "RO", "GR", "UA", "TR",
            "RU", "IL", "AE", "SA", "IN", "SG", "HK", "CN", "TW", "JP", "KR", "TH", "VN", "ID",
            "PH", "MY", "AU", "NZ", "ZA", "EG", "NG", "KE",
        ] {
            assert!(country_timezone(c).is_some(), "{c}");
            assert!(country_language(c).is_some(), "{c}");
        }
        assert_eq!(country_language("DE"), Some("de"));
        assert_eq!(country_language("ZZ"), None);
    }

    #[test]
    fn a_proxy_country_places_the_browser_in_its_timezone_in_any_case() {
        assert_eq!(country_timezone("de"), Some("Europe/Berlin"));
        assert_eq!(country_timezone("US"), Some("America/New_York"));
        assert_eq!(country_timezone("jp"), Some("Asia/Tokyo"));
        assert_eq!(
            country_timezone("zz"),
            None,
            "unknown: the fingerprint's own"
        );
    }
}
