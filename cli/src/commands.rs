//! One module per subcommand. Each takes its parsed arguments and returns an exit status;
//! data goes to standard output and everything else to standard error.

pub mod schema;
pub mod validate;

use crate::args::{Cli, Command};
use crate::exit::ExitStatus;

pub fn run(cli: Cli) -> ExitStatus {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Schema(args) => schema::run(args),
    }
}
