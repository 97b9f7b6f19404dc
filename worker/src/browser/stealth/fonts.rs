//! The stealth disguise's fonts: the font families a fingerprint's platform has (the
//! `fingerprints.font_list` column), made real for Chromium by a fontconfig configuration of
//! their own, which the stealth browser wearing them is launched with (`FONTCONFIG_FILE`).
//!
//! Invariant: under a profile, every family a page can find by name is one the claimed
//! platform has, and no Linux family is found by its own name. Installed fonts are renamed
//! when fontconfig scans them (`<match target="scan">`, full and PostScript names too, which
//! `local()` in `@font-face` looks up): Liberation Sans becomes Arial,
//! Carlito Calibri, DejaVu Sans Mono Consolas or Menlo, and so on (`SOURCES`, metric-
//! compatible where Debian has such a font), so the Linux names no longer exist; fonts no
//! claimed family needs are refused; and every lookup ends, after its own families, with
//! a claimed symbol family (Marlett, Zapf Dingbats), so a lookup for a missing family finds
//! that one, which Chromium refuses as a substitute, and the page's fallback is measured:
//! FingerprintJS's font probe, text measured in `'family', base` against the bare base,
//! sees exactly the claimed families (those Blink itself aliases, Helvetica for Arial,
//! Times and Courier, included, as on the claimed platform). A script-level disguise was
//! not taken: measuring text reaches the layout engine through too many paths to patch.
//!
//! A fingerprint without a font list, or claiming Linux, keeps the machine's own fonts.

use std::path::Path;

/// An installed family (Debian's fonts-liberation, fonts-crosextra-carlito and -caladea,
/// fonts-urw-base35, fonts-dejavu, fonts-noto-color-emoji, fonts-noto-cjk) and the claimed
/// families it can stand for. A family whose files carry two names (DejaVu Sans
/// ExtraLight is also DejaVu Sans) comes before the broader one.
const SOURCES: &[(&str, &[&str])] = &[
    ("Liberation Sans Narrow", &["Arial Narrow"]),
    ("Liberation Sans", &["Arial"]),
    ("Liberation Serif", &["Times New Roman"]),
    ("Liberation Mono", &["Courier New"]),
    ("Carlito", &["Calibri"]),
    ("Caladea", &["Cambria"]),
    (
        "Nimbus Sans Narrow",
        &["Franklin Gothic", "Franklin Gothic Medium"],
    ),
    ("Nimbus Sans", &["Helvetica"]),
    ("Nimbus Roman", &["Times"]),
    ("Nimbus Mono PS", &["Courier"]),
    ("URW Gothic", &["Century Gothic", "Gill Sans"]),
    ("URW Bookman", &["Bookman Old Style"]),
    ("C059", &["Century Schoolbook", "Century"]),
    ("P052", &["Palatino Linotype", "Palatino", "Book Antiqua"]),
    ("Z003", &["Monotype Corsiva", "Apple Chancery"]),
    ("Standard Symbols PS", &["Symbol"]),
    (
        "D050000L",
        &["Marlett", "Wingdings", "Webdings", "Zapf Dingbats"],
    ),
    ("DejaVu Sans Light", &["Segoe UI Light"]),
    (
        "DejaVu Sans",
        &[
            "Segoe UI",
            "Verdana",
            "Tahoma",
            "Lucida Sans Unicode",
            "Leelawadee UI",
            "Leelawadee",
            "Arial Unicode MS",
            "Helvetica Neue",
            "Lucida Grande",
            "Geneva",
        ],
    ),
    (
        "DejaVu Sans Mono",
        &["Consolas", "Lucida Console", "Menlo", "Monaco"],
    ),
    ("DejaVu Serif", &["Georgia", "Sylfaen"]),
    ("Noto Color Emoji", &["Segoe UI Emoji", "Apple Color Emoji"]),
    ("Noto Sans CJK SC", &["Microsoft YaHei", "PingFang SC"]),
    (
        "Noto Sans CJK JP",
        &["MS Gothic", "MS UI Gothic", "Yu Gothic", "Hiragino Sans"],
    ),
    (
        "Noto Sans CJK KR",
        &["Malgun Gothic", "Apple SD Gothic Neo"],
    ),
];

/// The symbol families a lookup for a missing family ends on, in order of preference.
const LAST_RESORT: &[&str] = &["Marlett", "Zapf Dingbats", "Wingdings", "Symbol"];

/// Where fontconfig finds fonts (Type 1 files, which Chromium does not draw, refused).
const DIRS: &[&str] = &[
    "/usr/share/fonts/truetype",
    "/usr/share/fonts/opentype",
    "/usr/local/share/fonts",
];

/// The claimed families of one platform and its generic families; equal profiles share a
/// browser.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FontProfile {
    /// The claimed families the installed fonts can stand for, sorted.
    families: Vec<String>,
    /// sans-serif, serif, monospace.
    generic: [&'static str; 3],
}

impl FontProfile {
    /// The profile of a fingerprint claiming `platform` (`navigator.platform`) with the
    /// families `fonts`; `None` keeps the machine's fonts (no list, or a Linux claim).
    pub fn new(platform: &str, fonts: &[String]) -> Option<Self> {
        let generic = if platform.starts_with("Win") {
            ["Arial", "Times New Roman", "Consolas"]
        } else if platform.starts_with("Mac") {
            ["Helvetica", "Times", "Courier"]
        } else {
            return None;
        };
        let mut families: Vec<String> = fonts
            .iter()
            .filter(|f| SOURCES.iter().any(|(_, names)| names.contains(&f.as_str())))
            .cloned()
            .collect();
        families.sort_unstable();
        families.dedup();
        (!families.is_empty()).then_some(Self { families, generic })
    }

    /// The claimed families this profile makes.
    pub fn families(&self) -> &[String] {
        &self.families
    }

    fn claims(&self, family: &str) -> bool {
        self.families.iter().any(|f| f == family)
    }

    /// The fontconfig configuration, its cache under `cache`.
    pub fn config(&self, cache: &Path) -> String {
        let mut out = String::from(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"urn:fontconfig:fonts.dtd\">\n<fontconfig>\n",
        );
        for dir in DIRS {
            out.push_str(&format!("  <dir>{dir}</dir>\n"));
        }
        out.push_str(&format!(
            "  <cachedir>{}</cachedir>\n",
            xml(&cache.display().to_string())
        ));
        let mut accepted = Vec::new();
        for (source, names) in SOURCES {
            let claimed: Vec<&str> = names.iter().copied().filter(|n| self.claims(n)).collect();
            if claimed.is_empty() {
                continue;
            }
            out.push_str(&rename(source, &claimed));
            accepted.extend(claimed);
        }
        out.push_str("  <selectfont>\n    <rejectfont><glob>*.pfb</glob><glob>*.pfa</glob><glob>*.t1</glob></rejectfont>\n    <acceptfont>");
        for family in &accepted {
            out.push_str(&format!(
                "<pattern><patelt name=\"family\"><string>{}</string></patelt></pattern>",
                xml(family)
            ));
        }
        out.push_str("</acceptfont>\n    <rejectfont><pattern/></rejectfont>\n  </selectfont>\n");
        for (generic, family) in ["sans-serif", "serif", "monospace"]
            .iter()
            .zip(self.generic)
        {
            out.push_str(&format!(
                "  <alias binding=\"strong\"><family>{generic}</family><prefer><family>{}</family></prefer></alias>\n",
                xml(family)
            ));
        }
        if let Some(last) = LAST_RESORT.iter().find(|f| self.claims(f)) {
            out.push_str(&format!(
                "  <match target=\"pattern\"><edit name=\"family\" mode=\"append_last\" binding=\"strong\"><string>{last}</string></edit></match>\n"
            ));
        }
        out.push_str("</fontconfig>\n");
        out
    }
}

/// The scan rules making `source`'s fonts the `claimed` families: their family names
/// replaced, their full and PostScript names (which `local()` in `@font-face` looks up)
/// removed, and the regular face's full name the first claimed family's, as on the claimed
/// platform (`local('Arial')` found, `local('Liberation Sans')` not).
fn rename(source: &str, claimed: &[&str]) -> String {
    let first = xml(claimed.first().copied().unwrap_or_default());
    format!(
        "  <match target=\"scan\"><test name=\"family\"><string>{}</string></test><edit name=\"family\" mode=\"assign_replace\">{}</edit><edit name=\"fullname\" mode=\"delete_all\"/><edit name=\"postscriptname\" mode=\"delete_all\"/></match>\n  <match target=\"scan\"><test name=\"family\"><string>{first}</string></test><test name=\"weight\"><const>regular</const></test><test name=\"slant\"><const>roman</const></test><test name=\"width\"><const>normal</const></test><edit name=\"fullname\" mode=\"assign\"><string>{first}</string></edit></match>\n",
        xml(source),
        strings(claimed)
    )
}

fn strings(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("<string>{}</string>", xml(v)))
        .collect()
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_linux_claim_or_an_empty_list_keeps_the_machine_s_fonts() {
        assert_eq!(FontProfile::new("Linux x86_64", &list(&["Arial"])), None);
        assert_eq!(FontProfile::new("Win32", &[]), None);
        assert_eq!(FontProfile::new("Win32", &list(&["Unknown Font"])), None);
    }

    #[test]
    fn each_claimed_family_renames_its_installed_source_and_linux_names_are_refused() {
        let profile = FontProfile::new("Win32", &list(&["Calibri", "Arial", "Marlett", "Nope"]))
            .expect("profile");
        assert_eq!(profile.families(), ["Arial", "Calibri", "Marlett"]);
        let config = profile.config(Path::new("/tmp/p/fontconfig"));
        assert!(config.contains("<test name=\"family\"><string>Carlito</string></test><edit name=\"family\" mode=\"assign_replace\"><string>Calibri</string></edit><edit name=\"fullname\" mode=\"delete_all\"/>"), "{config}");
        assert!(
            config.contains(
                "<edit name=\"fullname\" mode=\"assign\"><string>Calibri</string></edit>"
            )
        );
        assert!(!config.contains("DejaVu"), "no family claims it: {config}");
        assert!(config.contains("<rejectfont><pattern/></rejectfont>"));
        assert!(config.contains("<prefer><family>Consolas</family></prefer>"));
        assert!(
            config.contains("mode=\"append_last\" binding=\"strong\"><string>Marlett</string>")
        );
        assert!(config.contains("<cachedir>/tmp/p/fontconfig</cachedir>"));
    }

    #[test]
    fn equal_claims_make_equal_profiles_whatever_their_order() {
        let a = FontProfile::new("MacIntel", &list(&["Menlo", "Helvetica Neue"]));
        let b = FontProfile::new("MacIntel", &list(&["Helvetica Neue", "Menlo", "Menlo"]));
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(
            a,
            FontProfile::new("Win32", &list(&["Menlo", "Helvetica Neue"]))
        );
    }
}
