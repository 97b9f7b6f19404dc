//! Where a proxy's country places a browser: the timezone a person there would have, so the
//! stealth engine's clock agrees with the address a site sees. Countries spanning several
//! zones get their most populous one; a country not listed keeps the fingerprint's own.

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

#[cfg(test)]
mod tests {
    use super::country_timezone;

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
