//! What the content outputs keep of the page: the customer's `include_tags` and
//! `exclude_tags` (CSS selectors), images inlined as `data:` URLs when asked, and, for the
//! fallback of main-content selection, the page without its boilerplate (navigation,
//! headers, footers, sidebars, ads, cookie banners, share widgets, comments).
//!
//! Invariant: selection only detaches subtrees from the parsed tree, so the tree stays as
//! bounded as the parser left it; every pass is iterative, linear in the page (ancestor
//! walks stop at nodes already marked) and ticks the [`Budget`]; a selector that does not
//! parse is the request's fault (`invalid_request`, not retried).

use std::collections::HashSet;

use ego_tree::{NodeId, iter::Edge};
use scraper::{ElementRef, Html, Selector, node::Element};

use super::{Content, budget::Budget};
use crate::error::FetchError;

/// Words in an element's id or class that mark it as boilerplate.
const BOILERPLATE_WORDS: [&str; 22] = [
    "cookie",
    "consent",
    "gdpr",
    "advert",
    "sponsor",
    "share",
    "sharing",
    "social",
    "comment",
    "newsletter",
    "subscribe",
    "popup",
    "modal",
    "breadcrumb",
    "sidebar",
    "related",
    "promo",
    "navbar",
    "menu",
    "footer",
    "masthead",
    "banner",
];
/// Elements that are boilerplate whatever their attributes.
const BOILERPLATE_TAGS: [&str; 6] = ["nav", "header", "footer", "aside", "form", "dialog"];
/// ARIA roles of boilerplate.
const BOILERPLATE_ROLES: [&str; 7] = [
    "navigation",
    "banner",
    "contentinfo",
    "complementary",
    "search",
    "dialog",
    "alertdialog",
];

/// Whether `el` is boilerplate: by its tag, its role, or a word of its id or classes.
pub fn is_boilerplate(el: &Element) -> bool {
    if BOILERPLATE_TAGS.contains(&el.name()) {
        return true;
    }
    if el
        .attr("role")
        .is_some_and(|r| BOILERPLATE_ROLES.contains(&r.trim().to_ascii_lowercase().as_str()))
    {
        return true;
    }
    let names = el.attr("id").into_iter().chain(el.classes());
    names.map(str::to_ascii_lowercase).any(|name| {
        BOILERPLATE_WORDS.iter().any(|w| name.contains(w))
            || name
                .split(['-', '_'])
                .any(|part| matches!(part, "ad" | "ads" | "adslot" | "nav" | "share"))
    })
}

/// Whether `el` is an image inlined as a `data:` URL.
pub fn is_base64_image(el: &Element) -> bool {
    el.name() == "img"
        && el.attr("src").is_some_and(|s| {
            s.trim_start()
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
        })
}

/// Parses the customer's selectors; `field` names the option in the error.
fn selectors(list: &[String], field: &str) -> Result<Vec<Selector>, FetchError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            Selector::parse(s).map_err(|e| FetchError::Invalid(format!("{field}[{i}]: {e}")))
        })
        .collect()
}

/// Removes from `doc` what `content` leaves out: excluded elements and, when asked,
/// inlined images; then, when `include_tags` are given, everything but what they match
/// (and the document's head, for the title).
pub fn prune(doc: &mut Html, content: &Content, budget: &mut Budget) -> Result<(), FetchError> {
    let exclude = selectors(&content.exclude_tags, "exclude_tags")?;
    let include = selectors(&content.include_tags, "include_tags")?;
    if exclude.is_empty() && include.is_empty() && !content.remove_base64_images {
        return Ok(());
    }
    let (mut dropped, mut included) = (Vec::new(), Vec::new());
    for node in doc.tree.root().descendants() {
        budget.tick("content selection")?;
        let Some(el) = ElementRef::wrap(node) else {
            continue;
        };
        if exclude.iter().any(|s| s.matches(&el))
            || (content.remove_base64_images && is_base64_image(el.value()))
        {
            dropped.push(node.id());
        } else if include.iter().any(|s| s.matches(&el)) {
            included.push(node.id());
        }
    }
    detach(doc, &dropped);
    if !include.is_empty() {
        keep_only(doc, &included, budget)?;
    }
    Ok(())
}

/// Removes the boilerplate elements from `doc` (see [`is_boilerplate`]), keeping the
/// document's `body` and `main` elements whatever their attributes.
pub fn strip_boilerplate(doc: &mut Html, budget: &mut Budget) -> Result<(), FetchError> {
    let mut dropped = Vec::new();
    for node in doc.tree.root().descendants() {
        budget.tick("boilerplate")?;
        if let Some(el) = node.value().as_element()
            && !matches!(el.name(), "html" | "body" | "main")
            && is_boilerplate(el)
        {
            dropped.push(node.id());
        }
    }
    detach(doc, &dropped);
    Ok(())
}

fn detach(doc: &mut Html, ids: &[NodeId]) {
    for id in ids {
        if let Some(mut node) = doc.tree.get_mut(*id) {
            node.detach();
        }
    }
}

/// Detaches everything but the `included` subtrees, the paths to them, and the head.
fn keep_only(doc: &mut Html, included: &[NodeId], budget: &mut Budget) -> Result<(), FetchError> {
    let whole: HashSet<NodeId> = included.iter().copied().collect();
    let mut path = HashSet::new();
    for id in included {
        let Some(node) = doc.tree.get(*id) else {
            continue;
        };
        for ancestor in node.ancestors() {
            budget.tick("content selection")?;
            if !path.insert(ancestor.id()) {
                break;
            }
        }
    }
    let mut dropped = Vec::new();
    // Open included elements: whatever is inside one stays.
    let mut inside = 0usize;
    for edge in doc.tree.root().traverse() {
        budget.tick("content selection")?;
        let node = match edge {
            Edge::Open(node) => node,
            Edge::Close(node) => {
                if whole.contains(&node.id()) {
                    inside -= 1;
                }
                continue;
            }
        };
        let id = node.id();
        if whole.contains(&id) {
            inside += 1;
            continue;
        }
        let under_path = node.parent().is_some_and(|p| path.contains(&p.id()));
        let is_head = node
            .value()
            .as_element()
            .is_some_and(|e| e.name() == "head");
        if inside == 0 && under_path && !path.contains(&id) && !is_head {
            dropped.push(id);
        }
    }
    detach(doc, &dropped);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pruned(html: &str, content: &Content) -> String {
        let mut doc = Html::parse_document(html);
        let mut budget = Budget::new(Duration::from_secs(60));
        prune(&mut doc, content, &mut budget).expect("pruned");
        doc.root_element().text().collect::<Vec<_>>().join("|")
    }

    fn element(html: &str) -> Html {
        Html::parse_fragment(html)
    }

    fn first_is_boilerplate(html: &str) -> bool {
        let doc = element(html);
        let el = doc
            .root_element()
            .first_child()
            .and_then(|n| n.value().as_element().cloned())
            .expect("element");
        is_boilerplate(&el)
    }

    #[test]
    fn excluded_elements_leave_the_content_and_the_rest_stays() {
        let content = Content {
            exclude_tags: vec![".ad".into(), "footer".into()],
            ..Content::default()
        };
        let text = pruned(
            "<p>keep</p><div class=ad>buy</div><footer>foot</footer><p>too</p>",
            &content,
        );
        assert_eq!(text, "keep|too");
    }

    #[test]
    fn only_included_elements_stay_with_the_title() {
        let content = Content {
            include_tags: vec!["article p".into(), "#note".into()],
            ..Content::default()
        };
        let text = pruned(
            "<title>T</title><nav>menu</nav><article><h1>h</h1><p>one</p><p>two</p></article>\
             <div><span id=note>n</span><span>x</span></div>",
            &content,
        );
        assert_eq!(text, "T|one|two|n");
    }

    #[test]
    fn an_included_element_inside_another_keeps_all_of_the_outer_one() {
        let content = Content {
            include_tags: vec!["article".into(), "article p".into()],
            ..Content::default()
        };
        let text = pruned(
            "<nav>n</nav><article><h1>h</h1><p>p</p></article>",
            &content,
        );
        assert_eq!(text, "h|p");
    }

    #[test]
    fn exclusion_wins_over_inclusion() {
        let content = Content {
            include_tags: vec!["p".into()],
            exclude_tags: vec![".secret".into()],
            ..Content::default()
        };
        assert_eq!(
            pruned("<p>a</p><p class=secret>b</p><p>c</p>", &content),
            "a|c"
        );
    }

    #[test]
    fn inlined_images_are_removed_only_when_asked() {
        let page = "<p>x<img src='data:image/png;base64,AAAA'><img src='/real.png'></p>";
        let count = |content: &Content| {
            let mut doc = Html::parse_document(page);
            let mut budget = Budget::new(Duration::from_secs(60));
            prune(&mut doc, content, &mut budget).expect("pruned");
            doc.select(&Selector::parse("img").expect("img")).count()
        };
        assert_eq!(count(&Content::default()), 2);
        let removing = Content {
            remove_base64_images: true,
            ..Content::default()
        };
        assert_eq!(count(&removing), 1);
    }

    #[test]
    fn a_selector_that_does_not_parse_is_a_permanent_error() {
        let mut doc = Html::parse_document("<p>x</p>");
        let mut budget = Budget::new(Duration::from_secs(60));
        let content = Content {
            exclude_tags: vec!["p[".into()],
            ..Content::default()
        };
        let err = prune(&mut doc, &content, &mut budget).expect_err("invalid");
        assert!(!err.retryable());
        assert!(err.to_string().contains("exclude_tags[0]"), "{err}");
    }

    #[test]
    fn navigation_banners_ads_and_share_widgets_are_boilerplate() {
        for html in [
            "<nav>x</nav>",
            "<div role=navigation>x</div>",
            "<div id=cookie-notice>x</div>",
            "<div class='top ad-slot'>x</div>",
            "<ul class=share-buttons>x</ul>",
            "<section class=comments>x</section>",
        ] {
            assert!(first_is_boilerplate(html), "{html}");
        }
        for html in [
            "<div class=content>x</div>",
            "<p class=lead>x</p>",
            "<div class=headline>x</div>",
        ] {
            assert!(!first_is_boilerplate(html), "{html}");
        }
    }
}
