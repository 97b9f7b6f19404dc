//! Parses a page into scraper's tree within bounded time and depth.
//!
//! html5ever's tree builder scans its stack of open elements for most start tags (is there
//! a `<p>` in scope?), so n nested elements cost n²/2 steps: 50,000 unclosed `<div>`s take
//! seconds, a megabyte of them hours. A guard between the tokenizer and the tree builder
//! keeps that stack near [`MAX_DEPTH`]: past it, start tags that would nest are left out
//! (and their end tags after them), so their content, text and void elements such as
//! `<img>`, lands in the element at the bound, in order. Then [`flatten`] makes the bound
//! exact: whatever still sits deeper than [`MAX_DEPTH`] (formatting elements the tree
//! builder re-opened itself) is moved up to that depth, in document order, as Chromium
//! lays out what its parser nests past 512.
//!
//! Invariant: the tree that leaves this module is at most `MAX_DEPTH + 1` deep, so no later
//! walk or selector recursion depends on the page's nesting; the input is fed in chunks and
//! the [`Budget`] checked between them.

use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
};

use ego_tree::{NodeId, Tree, iter::Edge};
use html5ever::{
    Attribute, LocalName, QualName,
    tendril::StrTendril,
    tokenizer::{
        BufferQueue, Tag, TagKind, TagToken, Token, TokenSink, TokenSinkResult, Tokenizer,
        TokenizerOpts,
    },
    tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeBuilder, TreeBuilderOpts, TreeSink},
};
use scraper::{Html, HtmlTreeSink, Node};

use super::budget::{Budget, Cut, Cuts};
use crate::error::FetchError;

/// Elements nested deeper than this are laid flat (Chromium's parser uses the same bound).
pub const MAX_DEPTH: usize = 512;
/// Input fed to the parser between two budget checks.
const CHUNK_BYTES: usize = 64 * 1024;

/// Parses `html` as a document, cutting what is nested past [`MAX_DEPTH`].
pub fn parse(html: &str, budget: &mut Budget, cuts: &mut Cuts) -> Result<Html, FetchError> {
    let sink = DepthSink {
        inner: HtmlTreeSink::new(Html::new_document()),
        current: Cell::new(None),
    };
    let builder = TreeBuilder::new(sink, TreeBuilderOpts::default());
    let guard = Guard {
        builder,
        dropped: RefCell::default(),
        cut: Cell::new(false),
        memo: Cell::new(None),
    };
    let tokenizer = Tokenizer::new(guard, TokenizerOpts::default());
    let input = BufferQueue::default();
    let mut rest = html;
    while !rest.is_empty() {
        let mut at = rest.len().min(CHUNK_BYTES);
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        let (chunk, tail) = rest.split_at(at);
        input.push_back(StrTendril::from_slice(chunk));
        while let html5ever::TokenizerResult::Script(_) = tokenizer.feed(&input) {}
        budget.check("parsing")?;
        rest = tail;
    }
    tokenizer.end();
    let guard = tokenizer.sink;
    if guard.cut.get() {
        cuts.add(Cut::Depth);
    }
    let mut doc = guard.builder.sink.inner.finish();
    if flatten(&mut doc.tree, budget)? {
        cuts.add(Cut::Depth);
    }
    Ok(doc)
}

/// Moves every node deeper than [`MAX_DEPTH`] up to be a child of its ancestor at that
/// depth, in document order (the text of raw-text elements there, scripts and styles, is
/// dropped); returns whether any moved.
pub fn flatten(tree: &mut Tree<Node>, budget: &mut Budget) -> Result<bool, FetchError> {
    let mut deep_parents = Vec::new();
    let mut depth = 0usize;
    for edge in tree.root().traverse() {
        budget.tick("flattening")?;
        match edge {
            Edge::Open(node) => {
                if depth == MAX_DEPTH && node.has_children() {
                    deep_parents.push(node.id());
                }
                depth += 1;
            }
            Edge::Close(_) => depth -= 1,
        }
    }
    for parent in &deep_parents {
        let moved: Vec<NodeId> = match tree.get(*parent) {
            Some(node) => node.descendants().skip(1).map(|d| d.id()).collect(),
            None => continue,
        };
        for id in moved {
            budget.tick("flattening")?;
            // A script's or a style's text would read as the page's text once moved out.
            let raw_text = tree.get(id).is_some_and(|n| {
                n.value().is_text()
                    && n.parent()
                        .and_then(|p| p.value().as_element().map(|e| e.name.local.clone()))
                        .is_some_and(|name| never_nests(&name))
            });
            match tree.get_mut(id) {
                Some(mut node) if raw_text => node.detach(),
                Some(_) => {
                    if let Some(mut parent) = tree.get_mut(*parent) {
                        parent.append_id(id);
                    }
                }
                None => {}
            }
        }
    }
    Ok(!deep_parents.is_empty())
}

/// Void elements, raw-text elements and the document's own frame: none of them nests (a
/// raw-text element holds only text), so the guard lets them through at any depth.
fn never_nests(name: &LocalName) -> bool {
    matches!(
        &**name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
            | "param"
            | "keygen"
            | "image"
            | "script"
            | "style"
            | "xmp"
            | "iframe"
            | "noembed"
            | "noframes"
            | "noscript"
            | "textarea"
            | "title"
            | "plaintext"
            | "html"
            | "head"
            | "body"
            | "frameset"
            | "frame"
    )
}

/// Sits between the tokenizer and the tree builder; see the module's description.
struct Guard {
    builder: TreeBuilder<NodeId, DepthSink>,
    /// End tags still to drop, by name: the elements closed early at the bound.
    dropped: RefCell<HashMap<LocalName, usize>>,
    cut: Cell<bool>,
    /// The last depth computed, and for which node.
    memo: Cell<Option<(NodeId, usize)>>,
}

impl Guard {
    /// The depth of the tree builder's current node, counted to at most `MAX_DEPTH`.
    fn depth(&self) -> usize {
        let Some(current) = self.builder.sink.current.get() else {
            return 0;
        };
        let html = self.builder.sink.inner.0.borrow();
        let Some(node) = html.tree.get(current) else {
            return 0;
        };
        let depth = match self.memo.get() {
            Some((id, depth)) if id == current => depth,
            Some((id, depth)) if node.parent().is_some_and(|p| p.id() == id) => depth + 1,
            _ => node.ancestors().take(MAX_DEPTH).count(),
        };
        self.memo.set(Some((current, depth)));
        depth
    }

    fn tag(&self, tag: Tag, line: u64) -> TokenSinkResult<NodeId> {
        if tag.kind == TagKind::EndTag {
            if let Some(pending) = self.dropped.borrow_mut().get_mut(&tag.name)
                && *pending > 0
            {
                *pending -= 1;
                return TokenSinkResult::Continue;
            }
            return self.builder.process_token(TagToken(tag), line);
        }
        if never_nests(&tag.name) || self.depth() < MAX_DEPTH {
            return self.builder.process_token(TagToken(tag), line);
        }
        // Too deep: the element is left out (its content goes to the element at the bound),
        // and so is its end tag when it comes.
        self.cut.set(true);
        *self.dropped.borrow_mut().entry(tag.name).or_default() += 1;
        TokenSinkResult::Continue
    }
}

impl TokenSink for Guard {
    type Handle = NodeId;

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<NodeId> {
        match token {
            TagToken(tag) => self.tag(tag, line),
            other => self.builder.process_token(other, line),
        }
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// scraper's tree sink, noting the node whose depth is the tree builder's current depth:
/// the element last inserted, or the parent of the one last popped.
struct DepthSink {
    inner: HtmlTreeSink,
    current: Cell<Option<NodeId>>,
}

impl TreeSink for DepthSink {
    type Handle = NodeId;
    type Output = Html;
    type ElemName<'a> = <HtmlTreeSink as TreeSink>::ElemName<'a>;

    fn finish(self) -> Html {
        self.inner.finish()
    }
    fn parse_error(&self, msg: std::borrow::Cow<'static, str>) {
        self.inner.parse_error(msg);
    }
    fn get_document(&self) -> NodeId {
        self.inner.get_document()
    }
    fn elem_name<'a>(&'a self, target: &'a NodeId) -> Self::ElemName<'a> {
        self.inner.elem_name(target)
    }
    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, f: ElementFlags) -> NodeId {
        self.inner.create_element(name, attrs, f)
    }
    fn create_comment(&self, text: StrTendril) -> NodeId {
        self.inner.create_comment(text)
    }
    fn create_pi(&self, target: StrTendril, data: StrTendril) -> NodeId {
        self.inner.create_pi(target, data)
    }
    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        if let NodeOrText::AppendNode(id) = &child {
            self.current.set(Some(*id));
        }
        self.inner.append(parent, child);
    }
    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev_element: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        if let NodeOrText::AppendNode(id) = &child {
            self.current.set(Some(*id));
        }
        self.inner
            .append_based_on_parent_node(element, prev_element, child);
    }
    fn append_doctype_to_document(&self, name: StrTendril, public: StrTendril, system: StrTendril) {
        self.inner.append_doctype_to_document(name, public, system);
    }
    fn mark_script_already_started(&self, node: &NodeId) {
        self.inner.mark_script_already_started(node);
    }
    fn pop(&self, node: &NodeId) {
        let parent = {
            let html = self.inner.0.borrow();
            html.tree
                .get(*node)
                .and_then(|n| n.parent())
                .map(|p| p.id())
        };
        self.current.set(parent);
        self.inner.pop(node);
    }
    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        self.inner.get_template_contents(target)
    }
    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        self.inner.same_node(x, y)
    }
    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode);
    }
    fn append_before_sibling(&self, sibling: &NodeId, new_node: NodeOrText<NodeId>) {
        if let NodeOrText::AppendNode(id) = &new_node {
            self.current.set(Some(*id));
        }
        self.inner.append_before_sibling(sibling, new_node);
    }
    fn add_attrs_if_missing(&self, target: &NodeId, attrs: Vec<Attribute>) {
        self.inner.add_attrs_if_missing(target, attrs);
    }
    fn associate_with_form(&self, t: &NodeId, f: &NodeId, n: (&NodeId, Option<&NodeId>)) {
        self.inner.associate_with_form(t, f, n);
    }
    fn remove_from_parent(&self, target: &NodeId) {
        self.inner.remove_from_parent(target);
    }
    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        self.inner.reparent_children(node, new_parent);
    }
    fn is_mathml_annotation_xml_integration_point(&self, handle: &NodeId) -> bool {
        self.inner
            .is_mathml_annotation_xml_integration_point(handle)
    }
    fn set_current_line(&self, line: u64) {
        self.inner.set_current_line(line);
    }
    fn allow_declarative_shadow_roots(&self, parent: &NodeId) -> bool {
        self.inner.allow_declarative_shadow_roots(parent)
    }
    fn attach_declarative_shadow(&self, at: &NodeId, template: &NodeId, a: &[Attribute]) -> bool {
        self.inner.attach_declarative_shadow(at, template, a)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn depth_of(doc: &Html) -> usize {
        let (mut depth, mut max) = (0usize, 0usize);
        for edge in doc.tree.root().traverse() {
            match edge {
                Edge::Open(_) => {
                    max = max.max(depth);
                    depth += 1;
                }
                Edge::Close(_) => depth -= 1,
            }
        }
        max
    }

    fn parsed(html: &str) -> (Html, Cuts) {
        let mut budget = Budget::new(Duration::from_secs(60));
        let mut cuts = Cuts::default();
        let doc = parse(html, &mut budget, &mut cuts).expect("parsed");
        (doc, cuts)
    }

    #[test]
    fn a_normal_page_parses_as_scraper_parses_it() {
        let page =
            "<!doctype html><title>T</title><table><tr><td>a<b>b<i>c</b>d</i></table><p>x<p>y";
        let (doc, cuts) = parsed(page);
        assert_eq!(doc.html(), Html::parse_document(page).html());
        assert!(cuts.is_empty());
    }

    #[test]
    fn deep_nesting_is_laid_flat_at_the_bound_with_its_text_in_order() {
        for (open, close) in [
            ("<div>", "</div>"),
            ("<b>", "</b>"),
            ("<ul><li>", "</li></ul>"),
        ] {
            let n = 20_000;
            let page = format!(
                "{}{}",
                (0..n).map(|i| format!("{open}{i} ")).collect::<String>(),
                close.repeat(n)
            );
            let (doc, cuts) = parsed(&page);
            assert!(
                depth_of(&doc) <= MAX_DEPTH + 1,
                "{open}: {}",
                depth_of(&doc)
            );
            assert!(cuts.contains(Cut::Depth), "{open}");
            let text: String = doc.root_element().text().collect();
            assert!(
                text.starts_with("0 1 2 ") && text.ends_with("19998 19999 "),
                "{open}"
            );
        }
    }

    #[test]
    fn unclosed_nesting_is_laid_flat_too() {
        let (doc, cuts) = parsed(&format!("{}end", "<div>".repeat(50_000)));
        assert!(depth_of(&doc) <= MAX_DEPTH + 1);
        assert!(cuts.contains(Cut::Depth));
        assert!(doc.root_element().text().any(|t| t == "end"));
    }

    #[test]
    fn flatten_keeps_document_order() {
        let mut budget = Budget::new(Duration::from_secs(60));
        let mut tree = Html::parse_document(&format!(
            "{}<a href=/x>x</a><i>y</i>{}",
            "<span>".repeat(MAX_DEPTH + 5),
            "</span>".repeat(MAX_DEPTH + 5)
        ))
        .tree;
        assert!(flatten(&mut tree, &mut budget).expect("flattened"));
        let texts: Vec<String> = tree
            .root()
            .descendants()
            .filter_map(|n| n.value().as_text().map(|t| t.to_string()))
            .collect();
        assert_eq!(texts, ["x", "y"]);
    }
}
