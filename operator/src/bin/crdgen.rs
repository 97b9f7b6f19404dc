//! Prints the CRDs as YAML documents; `crds/scraperx.yaml` is this output.

fn main() -> anyhow::Result<()> {
    print!("{}", scraperx_operator::crd_yaml()?);
    Ok(())
}
