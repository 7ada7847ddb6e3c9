//! One module per subcommand. Each takes its parsed arguments and returns an exit status;
//! data goes to standard output and everything else to standard error.

pub mod apply;
pub mod bundle;
pub mod diff;
pub mod import;
pub mod keygen;
pub mod keys;
pub mod plan;
pub mod rollback;
pub mod schema;
pub mod status;
pub mod validate;

use crate::args::{Cli, Command};
use crate::exit::ExitStatus;

pub fn run(cli: Cli) -> ExitStatus {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Import(args) => import::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Bundle(args) => bundle::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Status(args) => status::run(args),
        Command::Rollback(args) => rollback::run(args),
    }
}
