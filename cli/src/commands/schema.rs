use crate::exit::ExitStatus;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {}

pub fn run(_: SchemaArgs) -> ExitStatus {
    out!("{}", gatectl_spec::schema::generate_text());
    ExitStatus::Success
}
