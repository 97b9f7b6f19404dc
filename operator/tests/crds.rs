//! The committed CRDs are exactly what crdgen prints.

#[test]
fn committed_crds_match_the_types() {
    let generated = scraperx_operator::crd_yaml().expect("yaml");
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crds/scraperx.yaml"
    ))
    .expect("crds/scraperx.yaml");
    assert!(
        generated == committed,
        "crds/scraperx.yaml is stale: run `cargo run -p scraperx-operator --bin crdgen > crds/scraperx.yaml`"
    );
}
